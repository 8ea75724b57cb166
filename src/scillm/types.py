"""OpenAI-shaped response objects: plain dicts that also allow attribute access.

    >>> resp = ChatCompletion({"choices": [{"message": {"role": "assistant", "content": "hi"}}]})
    >>> resp.choices[0].message.content == resp["choices"][0]["message"]["content"] == "hi"
    True
    >>> resp.choices[0].message.tool_calls is None  # an OpenAI field the server did not send
    True

Each object of a reply is an :class:`AttrDict` subclass named after the openai SDK model it
mirrors (``Choice``, ``ChatCompletionMessage``, ``ChoiceDelta``, ``CompletionUsage`` ...). As in
the SDK, a field of that model which the server left out reads as None; any other missing name
raises AttributeError, so a typo is not silently None. Reading never inserts a key: the dict holds
exactly what the server sent, unknown fields included, so ``orjson.dumps(resp)`` gives back the
exact JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import methodcaller
from typing import Any, ClassVar, TypeVar, cast

__all__ = ["AttrDict", "ChatCompletion", "ChatCompletionChunk", "reply", "wrap"]


class AttrDict(dict[str, Any]):
    """A dict whose keys can also be read (and set) as attributes.

    Subclasses list their OpenAI fields in ``_openai_fields`` (absent ones read as None) and the
    kind of each nested object in ``_nested`` (a list's items take the kind of the list's key).
    """

    __slots__ = ()
    _openai_fields: ClassVar[frozenset[str]] = frozenset()
    _nested: ClassVar[Mapping[str, type[AttrDict]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each OpenAI field of ``cls`` a property reading ``self.get(name)``.

        The fast path for the common reads (``resp.choices[0].message.content``): the property
        and its getter are C callables, so no Python frame runs and no AttributeError is raised
        and caught first, as on the way to :meth:`__getattr__`. It reads exactly what
        ``__getattr__`` would (the value, or None when absent); other names still go there.
        Setting and deleting go through ``__setattr__``/``__delattr__``, never the property.
        """
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("_openai_fields", ()):
            if not hasattr(cls, name):  # never hide a dict method or a class's own attribute
                setattr(cls, name, property(methodcaller("get", name)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name in self._openai_fields:
                return None
            raise AttributeError(self._no_field(name)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key {name!r} to delete") from None

    def _no_field(self, name: str) -> str:
        known = sorted(self._openai_fields.union(k for k in self if isinstance(k, str)))
        return f"{type(self).__name__} has no field {name!r}; it has: {', '.join(known) or 'none'}"


def wrap(value: Any, kind: type[AttrDict] = AttrDict) -> Any:
    """Recursively turn plain dicts into ``kind`` and its nested kinds (lists are walked)."""
    if isinstance(value, dict):
        return _fill(kind(), value)
    if isinstance(value, list):
        return [wrap(v, kind) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Value types that need no wrapping: one set lookup instead of two isinstance calls each."""


def _fill(out: AttrDict, data: Mapping[str, Any]) -> AttrDict:
    children = out._nested
    for key, value in data.items():
        if type(value) not in _SCALARS:
            if isinstance(value, dict):
                value = _fill(children.get(key, AttrDict)(), value)
            elif isinstance(value, list):
                kind = children.get(key, AttrDict)
                items = []  # a loop, not a comprehension: no function frame for a 1-item list
                for v in value:
                    items.append(_fill(kind(), v) if type(v) is dict else wrap(v, kind))
                value = items
        out[key] = value
    return out


def _names(fields: str) -> frozenset[str]:
    return frozenset(fields.split())


def _kinds(**children: type[AttrDict]) -> Mapping[str, type[AttrDict]]:
    return children


# The OpenAI object kinds, after the openai SDK's models (tests/test_types_openai.py checks
# these field lists against the installed SDK). Kinds with the same fields share one class.


class Function(AttrDict):
    """``function`` of a tool call or ``function_call``, streamed (delta) or whole."""

    __slots__ = ()
    _openai_fields = _names("arguments name")


class Custom(AttrDict):
    """``custom`` of a custom tool call."""

    __slots__ = ()
    _openai_fields = _names("input name")


class ChatCompletionMessageToolCall(AttrDict):
    """One of ``message.tool_calls``: a function or a custom tool call."""

    __slots__ = ()
    _openai_fields = _names("id type function custom")
    _nested = _kinds(function=Function, custom=Custom)


class ChoiceDeltaToolCall(AttrDict):
    """One of ``delta.tool_calls``: a piece of a streamed tool call."""

    __slots__ = ()
    _openai_fields = _names("index id function type")
    _nested = _kinds(function=Function)


class ChatCompletionAudio(AttrDict):
    """``message.audio`` or ``delta.audio``."""

    __slots__ = ()
    _openai_fields = _names("id data expires_at transcript")


class AnnotationURLCitation(AttrDict):
    __slots__ = ()
    _openai_fields = _names("end_index start_index title url")


class Annotation(AttrDict):
    """One of ``message.annotations``."""

    __slots__ = ()
    _openai_fields = _names("type url_citation")
    _nested = _kinds(url_citation=AnnotationURLCitation)


class ChatCompletionMessage(AttrDict):
    """``choice.message`` of a whole reply."""

    __slots__ = ()
    _openai_fields = _names("content refusal role annotations audio function_call tool_calls")
    _nested = _kinds(
        annotations=Annotation,
        audio=ChatCompletionAudio,
        function_call=Function,
        tool_calls=ChatCompletionMessageToolCall,
    )


class ChoiceDelta(AttrDict):
    """``choice.delta`` of a streamed chunk."""

    __slots__ = ()
    _openai_fields = _names("audio content function_call refusal role tool_calls")
    _nested = _kinds(
        audio=ChatCompletionAudio, function_call=Function, tool_calls=ChoiceDeltaToolCall
    )


class TopLogprob(AttrDict):
    __slots__ = ()
    _openai_fields = _names("token bytes logprob")


class ChatCompletionTokenLogprob(AttrDict):
    __slots__ = ()
    _openai_fields = _names("token bytes logprob top_logprobs")
    _nested = _kinds(top_logprobs=TopLogprob)


class ChoiceLogprobs(AttrDict):
    """``choice.logprobs``."""

    __slots__ = ()
    _openai_fields = _names("content refusal")
    _nested = _kinds(content=ChatCompletionTokenLogprob, refusal=ChatCompletionTokenLogprob)


class Choice(AttrDict):
    """One of ``choices`` of a whole reply."""

    __slots__ = ()
    _openai_fields = _names("finish_reason index logprobs message")
    _nested = _kinds(logprobs=ChoiceLogprobs, message=ChatCompletionMessage)


class ChunkChoice(AttrDict):
    """One of ``choices`` of a streamed chunk."""

    __slots__ = ()
    _openai_fields = _names("delta finish_reason index logprobs")
    _nested = _kinds(delta=ChoiceDelta, logprobs=ChoiceLogprobs)


class CompletionTokensDetails(AttrDict):
    __slots__ = ()
    _openai_fields = _names(
        "accepted_prediction_tokens audio_tokens reasoning_tokens rejected_prediction_tokens"
        " text_tokens"
    )


class PromptTokensDetails(AttrDict):
    __slots__ = ()
    _openai_fields = _names(
        "audio_tokens cache_write_tokens cached_tokens image_tokens text_tokens"
    )


class CompletionUsage(AttrDict):
    """``usage``."""

    __slots__ = ()
    _openai_fields = _names(
        "completion_tokens prompt_tokens total_tokens completion_tokens_details"
        " prompt_tokens_details"
    )
    _nested = _kinds(
        completion_tokens_details=CompletionTokensDetails, prompt_tokens_details=PromptTokensDetails
    )


class ModerationResult(AttrDict):
    __slots__ = ()
    _openai_fields = _names(
        "categories category_applied_input_types category_scores flagged model type"
    )


class ModerationVerdict(AttrDict):
    """``moderation.input`` or ``.output``: moderation results or an error."""

    __slots__ = ()
    _openai_fields = _names("model results type code message")
    _nested = _kinds(results=ModerationResult)


class Moderation(AttrDict):
    __slots__ = ()
    _openai_fields = _names("input output")
    _nested = _kinds(input=ModerationVerdict, output=ModerationVerdict)


class _Reply(AttrDict):
    """What ``ChatCompletion`` and ``ChatCompletionChunk`` share: headers and scillm's side data."""

    __slots__ = ("_headers",)

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        _fill(self, data or {})
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

    def __getstate__(self) -> dict[str, Any]:
        """Slot values, for pickle and copy (the dict's items travel on their own)."""
        state = cast("tuple[None, dict[str, Any]] | None", super().__getstate__())
        slots = state[1] if state else {}
        headers = slots.get("_headers")
        if headers is not None and not isinstance(headers, dict):
            from multidict import CIMultiDict  # network headers are read-only, unpicklable proxies

            slots["_headers"] = CIMultiDict(headers)
        return slots

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)  # a slot, not a key


class ChatCompletion(_Reply):
    """A ``chat.completion`` reply. ``choices[i].message.content`` is always a string for text.

    ``response_headers`` holds the HTTP headers it came with (rate-limit headers drive pacing);
    they are not part of the dict, so the JSON stays exactly what the server sent.
    """

    __slots__ = ()
    _openai_fields = _names(
        "id choices created model object metadata moderation service_tier system_fingerprint usage"
    )
    _nested = _kinds(choices=Choice, moderation=Moderation, usage=CompletionUsage)


class ChatCompletionChunk(_Reply):
    """One ``chat.completion.chunk`` of a streamed reply; the last one may carry ``usage``."""

    __slots__ = ()
    _openai_fields = _names(
        "id choices created model object moderation obfuscation service_tier system_fingerprint"
        " usage"
    )
    _nested = _kinds(choices=ChunkChoice, moderation=Moderation, usage=CompletionUsage)


R = TypeVar("R", bound=_Reply)


def reply(kind: type[R], data: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> R:
    """``kind(data, headers=headers)``, made without a call to ``__init__`` (its frame and
    keyword parsing): the providers make one per reply or stream chunk."""
    out = dict.__new__(kind)
    _fill(out, data)
    object.__setattr__(out, "_headers", headers)
    return out
