"""``ScriptedModel``: a model that answers from a script, served over HTTP by the mock server.

    from scillm.testing import Fault, ScriptedModel

    with ScriptedModel(["draft 1", Fault.rate_limit(retry_after=0.1), "draft 2"]) as model:
        router = model.router()                  # one group, "scripted", at the mock server
        ...                                      # any engine, given router (or model.ref)
        assert model.calls == 3                  # requests that reached the server, faults too

Each model request takes the next entry: a string or :class:`Reply` is the answer, a function of
the request body computes it, and a :class:`Fault` makes that request fail (a 429 with its
Retry-After, a 500, a dropped connection, ...). After the last entry ``then`` answers (a reply
spec like the mock server's); without it, a request past the end gets an HTTP 500 naming
``ScriptExhausted``. The order is the order requests arrive: exact for sequential callers.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

from scillm.testing.faults import Fault
from scillm.testing.replies import Reply, ReplySpec, check_reply, resolve_reply, text_of
from scillm.testing.server import MockLLMServer

if TYPE_CHECKING:
    from scillm.router.router import Router

__all__ = ["SCRIPTED_GROUP", "ScriptEntry", "ScriptExhausted", "ScriptedModel"]

SCRIPTED_GROUP = "scripted"
ScriptEntry: TypeAlias = "ReplySpec | Fault"


class ScriptedModel:
    """Queued answers (and faults), one per request, on a running :class:`MockLLMServer`."""

    def __init__(
        self,
        script: Iterable[ScriptEntry] = (),
        *,
        then: ReplySpec | None = None,
        model: str = "openai/scripted",
    ) -> None:
        self.model = model
        self._then = None if then is None else check_reply(then)
        self._script: deque[ScriptEntry] = deque()
        self._lock = threading.Lock()
        self.answered = 0
        self.server = MockLLMServer(reply=self._answer)
        self.push(*script)

    # -- the script ---------------------------------------------------------------------------

    def push(self, *entries: ScriptEntry) -> None:
        """Append entries to the script."""
        for entry in entries:
            if not isinstance(entry, Fault):
                check_reply(entry)
        with self._lock:
            self._script.extend(entries)
            self._arm()

    @property
    def left(self) -> int:
        """Entries not yet used (queued faults included)."""
        with self._lock:
            return len(self._script) + self.server.pending_faults

    @property
    def calls(self) -> int:
        """Model requests the server received (faulted ones included)."""
        model_paths = ("/completions", "/responses")
        return sum(1 for r in self.server.requests if r.path.endswith(model_paths))

    def _arm(self) -> None:
        """Hand the faults at the head of the script to the server: the next request gets them."""
        while self._script and isinstance(self._script[0], Fault):
            fault = self._script.popleft()
            assert isinstance(fault, Fault)
            self.server.enqueue(fault)

    def _answer(self, body: dict[str, Any]) -> str | Reply | dict[str, Any]:
        with self._lock:
            entry = self._script.popleft() if self._script else None
            self._arm()
            self.answered += 1
        if entry is None:
            if self._then is None:
                raise ScriptExhausted(f"the script ran out at request {self.answered}")
            entry = self._then
        assert not isinstance(entry, Fault)
        return resolve_reply(entry, body, _last_user(body))

    # -- where it is served -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def args(self) -> dict[str, str]:
        """``model``/``api_base`` keywords for a call or an engine taking a model string."""
        return {"model": self.model, "api_base": self.base_url}

    def router(self, **router_kwargs: Any) -> Router:
        """A Router whose one group, ``scripted``, is this model (``router_kwargs``: cache,
        deterministic, num_retries, ...)."""
        from scillm.router.router import Router

        params = {"model": self.model, "api_base": self.base_url, "api_key": "scripted"}
        entry = {"model_name": SCRIPTED_GROUP, "litellm_params": params}
        return Router(model_list=[entry], **router_kwargs)

    def start(self) -> ScriptedModel:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedModel:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(*exc)


def _last_user(body: dict[str, Any]) -> str:
    """The last user message's text (what an ``ECHO`` entry answers)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


class ScriptExhausted(LookupError):
    """The script had no entry left for a request (and no ``then``)."""
