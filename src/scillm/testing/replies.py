"""What the mock answers: the ``ECHO`` sentinel, ``Reply``, and reply resolution.

Token counts are estimates: one token per whitespace-separated word. That is enough to
test usage accounting and rate limits without a tokenizer.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import orjson

__all__ = [
    "ECHO",
    "Echo",
    "Reply",
    "ReplyFunc",
    "ReplySpec",
    "Turn",
    "check_reply",
    "count_tokens",
    "resolve_reply",
    "text_of",
]

JSONDict: TypeAlias = dict[str, Any]


class Echo(enum.Enum):
    """Type of the ``ECHO`` sentinel: answer with the last user message's text."""

    ECHO = "echo"


ECHO: Final = Echo.ECHO


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted assistant turn.

    ``tool_calls`` take the OpenAI shape (``{"id", "type", "function": {"name", "arguments"}}``)
    or the flat ``{"name", "arguments"}``; ``arguments`` may be a dict (JSON-encoded for you)
    and a missing ``id`` is generated. ``finish_reason`` None means ``"tool_calls"`` when
    there are tool calls, else ``"stop"``. ``usage`` overrides keys of the computed usage.
    """

    content: str | None = ""
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None

    @property
    def finish(self) -> str:
        """The finish reason sent on the wire."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def wire_tool_calls(self) -> list[JSONDict]:
        """Tool calls in the OpenAI chat shape, with string arguments and ids."""
        return [_wire_tool_call(call) for call in self.tool_calls or ()]

    def completion_tokens(self) -> int:
        """Estimated tokens of the content plus the tool-call arguments."""
        args = sum(count_tokens(_arguments(call)) for call in self.tool_calls or ())
        return count_tokens(self.content or "") + args


ReplyFunc: TypeAlias = Callable[[JSONDict], "str | Reply | JSONDict"]
"""Called with the request body; a dict it returns is sent verbatim as the response body."""

ReplySpec: TypeAlias = "str | Reply | Echo | ReplyFunc"


@dataclass(frozen=True, slots=True)
class Turn:
    """What a reply is rendered against: ids, model, prompt size and request options."""

    ident: str
    model: str
    created: int
    prompt_tokens: int
    n: int = 1
    include_usage: bool = False


def count_tokens(text: str) -> int:
    """Estimate tokens as whitespace-separated words."""
    return len(text.split())


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of parts whose text is joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


def check_reply(spec: object) -> ReplySpec:
    """Return ``spec`` if it is a valid reply, else raise TypeError naming the choices."""
    if isinstance(spec, str | Reply | Echo) or callable(spec):
        return spec
    raise TypeError(f"reply must be a str, Reply, ECHO or a function of the body, got {spec!r}")


def resolve_reply(spec: ReplySpec, body: JSONDict, echo_text: str) -> Reply | JSONDict:
    """Turn the configured reply into a ``Reply`` (or a verbatim body dict).

    Raises TypeError when a reply function returns something else.
    """
    if isinstance(spec, Echo):
        return Reply(echo_text)
    if isinstance(spec, str):
        return Reply(spec)
    if isinstance(spec, Reply):
        return spec
    result = spec(body)
    if isinstance(result, str):
        return Reply(result)
    if isinstance(result, Reply | dict):
        return result
    raise TypeError(f"reply function returned {type(result).__name__}; want str, Reply or dict")


def _arguments(call: Mapping[str, Any]) -> str:
    arguments = call.get("function", call).get("arguments", "")
    return arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()


def _wire_tool_call(call: Mapping[str, Any]) -> JSONDict:
    return {
        "id": call.get("id") or f"call_{secrets.token_hex(8)}",
        "type": "function",
        "function": {"name": call.get("function", call)["name"], "arguments": _arguments(call)},
    }
