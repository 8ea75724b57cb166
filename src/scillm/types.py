"""OpenAI-shaped response objects: plain dicts that also allow attribute access.

    >>> resp = ChatCompletion({"choices": [{"message": {"role": "assistant", "content": "hi"}}]})
    >>> resp.choices[0].message.content == resp["choices"][0]["message"]["content"] == "hi"
    True

Nothing the server sent is dropped: unknown fields stay in the dict, so responses are lossless and
serialise back to the exact JSON (``orjson.dumps(resp)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["AttrDict", "ChatCompletion", "ChatCompletionChunk", "wrap"]


class AttrDict(dict[str, Any]):
    """A dict whose keys can also be read (and set) as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def wrap(value: Any) -> Any:
    """Recursively turn plain dicts into :class:`AttrDict` (lists are walked, not copied twice)."""
    if isinstance(value, dict):
        return AttrDict({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


class ChatCompletion(AttrDict):
    """A ``chat.completion`` reply. ``choices[i].message.content`` is always a string for text.

    ``response_headers`` holds the HTTP headers it came with (rate-limit headers drive pacing);
    they are not part of the dict, so the JSON stays exactly what the server sent.
    """

    __slots__ = ("_headers",)

    def __init__(
        self, data: dict[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__({k: wrap(v) for k, v in (data or {}).items()})
        object.__setattr__(self, "_headers", headers)

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The reply's HTTP headers (case-insensitive when they came from the network)."""
        return getattr(self, "_headers", None) or {}

    @property
    def additional_kwargs(self) -> dict[str, Any]:
        """The seed's name for scillm's side data: ``additional_kwargs["router"]`` is the meta."""
        extra = {k: self[k] for k in ("codeworld", "certainly", "mini_agent") if k in self}
        if "scillm_router" in self:
            extra["router"] = self["scillm_router"]
        return extra


class ChatCompletionChunk(AttrDict):
    """One ``chat.completion.chunk`` of a streamed reply."""

    __slots__ = ()

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__({k: wrap(v) for k, v in (data or {}).items()})
