"""Test values as JSON data, losslessly: what a test passes and a program returns.

The wire format between the host, the Python harness and the JavaScript harness
(``_values.js``). ``encode(value)`` gives data that any JSON encoder writes as is (no NaN, no
lone surrogates, every int within JavaScript's safe range); ``decode(data)`` gives the value
back, equal and of the same types. What plain JSON carries exactly stays itself:

    None, bool, str, int with |n| <= 2**53 - 1, finite float (not -0.0), list, and a dict
    whose keys are all str, none starting with "$"                  -> the same JSON

Everything else is an object with a single "$" key, its tag:

    {"$int": "9007199254740993"}        a larger int: decimal, or "0x…" / "-0x…" past 2000 bits
    {"$float": "nan"}                   also "inf", "-inf", "-0"
    {"$str": ["ab", 55296, "c"]}        a str with surrogate code points: runs of text and the
                                        surrogates' code points
    {"$bytes": "AAE="}                  bytes or bytearray (decoded as bytes), base64
    {"$tuple": [...]}
    {"$set": [...]}, {"$frozenset": [...]}    elements in the order of their JSON text
    {"$dict": [[key, value], ...]}      any other dict, in insertion order

An object with a "$" key must be exactly one tag (a dict with such keys travels as "$dict"),
so decoding is never ambiguous; hand-written tags may also hold what plain JSON could (a small
``$int``, a ``$dict`` with str keys). A float keeps its type through Python's json (``2.0``
stays a float); JavaScript has one number type, see ``_values.js``.

Subclasses encode as their base type (a namedtuple as a tuple, a Counter as a dict, an IntEnum
as an int). At most ``MAX_DEPTH`` containers nest. Any other value (an object, a function, a
numpy array) raises :class:`Unencodable`; data that breaks these rules raises
:class:`Malformed`. Both name the place, e.g. ``args[0]["k"][2]``.

Standard library only, and nothing from scillm: the harness copies this file into the sandbox.
"""

from __future__ import annotations

import binascii
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["MAX_DEPTH", "Malformed", "Unencodable", "decode", "encode"]

MAX_DEPTH = 100  # containers; even "$dict" nesting then stays within common JSON parsers' limits
MAX_SAFE = 2**53 - 1
DECIMAL_BITS = 2000  # beyond this, ints go as hex: Python may refuse longer decimal strings
FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "-0": -0.0}
PATH_CAP = 200
HASH_FLOOD_LIMIT = 32  # set elements or dict keys with one hash value (see _spread)
CARRIED = "None, bool, int, float, str, bytes, list, tuple, dict, set or frozenset"


class _PathError(ValueError):
    """A problem at a place in a value: ``root`` plus the steps taken to reach it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.root = "value"
        self.steps: list[str] = []  # innermost first, added while unwinding

    def __str__(self) -> str:
        path = "".join(reversed(self.steps))
        if len(path) > PATH_CAP:
            path = path[: PATH_CAP // 2] + "…" + path[-PATH_CAP // 2 :]
        return f"{self.root}{path}: {self.reason}"


class Unencodable(_PathError):
    """A value the format cannot carry; the message says where it is and what to do."""


class Malformed(_PathError):
    """Data that is not in the format; the message says where."""


def encode(value: Any, root: str = "value") -> Any:
    """``value`` as JSON data (see the module docstring); ``root`` names it in errors."""
    try:
        return _encode(value, 0)
    except _PathError as exc:
        exc.root = root
        raise


def decode(data: Any, root: str = "value") -> Any:
    """The value that ``encode`` turned into ``data`` (as ``json.loads`` gives it)."""
    try:
        return _decode(data, 0)
    except _PathError as exc:
        exc.root = root
        raise


def _encode(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return value if value.isascii() or _clean(value) else {"$str": _segments(value)}
    if kind is int:
        return value if -MAX_SAFE <= value <= MAX_SAFE else {"$int": _int_text(value)}
    if kind is float:
        if math.isfinite(value):
            return {"$float": "-0"} if value == 0 and math.copysign(1, value) < 0 else value
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if value is None or kind is bool:
        return value
    if kind is bytes or kind is bytearray:
        return {"$bytes": binascii.b2a_base64(value, newline=False).decode("ascii")}
    if kind in CONTAINERS:
        if depth >= MAX_DEPTH:
            raise Unencodable(f"nests more than {MAX_DEPTH} containers (does it contain itself?)")
        return CONTAINERS[kind](value, depth + 1)
    for base, convert in SUBCLASSES:
        if isinstance(value, base):
            return _encode(convert(value), depth)
    name = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    raise Unencodable(
        f"cannot carry a value of type {name}: use {CARRIED} "
        "(convert it first, e.g. list(x), dict(x), x.tolist())"
    )


def _list(values: Any, depth: int) -> list[Any]:
    return [_step(_encode, item, depth, f"[{index}]") for index, item in enumerate(values)]


def _tuple(values: tuple[Any, ...], depth: int) -> Any:
    return {"$tuple": _list(values, depth)}


def _set(values: set[Any] | frozenset[Any], depth: int) -> Any:
    items = [_step(_encode, item, depth, " (a set element)") for item in values]
    items.sort(key=_dumps)
    return {"$set" if type(values) is set else "$frozenset": items}


def _dict(value: dict[Any, Any], depth: int) -> Any:
    if all(type(key) is str and key[:1] != "$" and (key.isascii() or _clean(key)) for key in value):
        return {key: _step(_encode, item, depth, _key_step(key)) for key, item in value.items()}
    pairs = []
    for key, item in value.items():
        pair = [_step(_encode, key, depth, " (a dict key)")]
        pairs.append([*pair, _step(_encode, item, depth, _key_step(key))])
    return {"$dict": pairs}


CONTAINERS: dict[type, Callable[[Any, int], Any]] = {
    list: _list,
    tuple: _tuple,
    dict: _dict,
    set: _set,
    frozenset: _set,
}
# A subclass travels as its base type; the unbound methods skip an enum's own __str__.
SUBCLASSES: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (int, int.__int__),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, bytes),
    (bytearray, bytes),
    (list, list),
    (tuple, tuple),
    (dict, dict),
    (set, set),
    (frozenset, frozenset),
)


def _step(fn: Any, value: Any, depth: int, step: str) -> Any:
    """``fn(value, depth)``, adding ``step`` to the place named by an error inside it."""
    try:
        return fn(value, depth)
    except _PathError as exc:
        exc.steps.append(step)
        raise


def _key_step(key: Any) -> str:
    return f"[{_dumps(key)}]" if isinstance(key, str) else f"[{key!r:.60}]"


def _clean(text: str) -> bool:
    """No surrogate code points (which JSON encoders refuse or turn into other characters)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _segments(text: str) -> list[Any]:
    out: list[Any] = []
    start = 0
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            out += [text[start:index], ord(char)]
            start = index + 1
    out.append(text[start:])
    return out


def _int_text(value: int) -> str:
    return str(value) if value.bit_length() <= DECIMAL_BITS else hex(value)


def _decode(data: Any, depth: int) -> Any:
    kind = type(data)
    if kind is str or kind is int or kind is float or kind is bool or data is None:
        return data
    if kind is dict and len(data) == 1:
        [(tag, payload)] = data.items()
        if isinstance(tag, str) and tag[:1] == "$":
            try:
                return _tag(tag, payload, depth)
            except _PathError as exc:
                exc.steps.append(f".{tag}")
                raise
    if kind is not list and kind is not dict:
        raise Malformed(f"a {kind.__name__} is not JSON data")
    if depth >= MAX_DEPTH:
        raise Malformed(f"nests more than {MAX_DEPTH} containers")
    if kind is list:
        return _decoded_list(data, depth + 1)
    out = {}
    for key, item in data.items():
        if not isinstance(key, str):
            raise Malformed(f'key {key!r:.60}: object keys are strings; use {{"$dict": ...}}')
        if key[:1] == "$":
            raise Malformed(
                f"key {key!r:.60}: an object with a '$' key must be a single tag such as "
                '{"$tuple": [...]}; write a dict with such keys as {"$dict": [[key, value], ...]}'
            )
        out[key] = _step(_decode, item, depth + 1, _key_step(key))
    return out


def _decoded_list(data: list[Any], depth: int) -> list[Any]:
    return [_step(_decode, item, depth, f"[{index}]") for index, item in enumerate(data)]


def _tag(tag: str, payload: Any, depth: int) -> Any:
    kind = type(payload)
    if tag == "$int" and kind is str:
        try:
            return int(payload, 0)
        except ValueError:
            raise Malformed(f"{payload[:60]!r} is not an integer") from None
    if tag == "$float" and kind is str and payload in FLOATS:
        return FLOATS[payload]
    if tag == "$str" and kind is list:
        return "".join(_text_run(run) for run in payload)
    if tag == "$bytes" and kind is str:
        try:
            return binascii.a2b_base64(payload, strict_mode=True)
        except binascii.Error as exc:
            raise Malformed(f"not base64: {exc}") from None
    if tag in ("$tuple", "$set", "$frozenset", "$dict") and kind is list:
        if depth >= MAX_DEPTH:
            raise Malformed(f"nests more than {MAX_DEPTH} containers")
        return _collection(tag, payload, depth + 1)
    raise Malformed(
        f"unknown tag or bad payload {_dumps({tag: payload})[:80]}; the tags: $int (a str), "
        "$float (nan, inf, -inf, -0), $str (a list), $bytes (base64), $tuple, $set, $frozenset, "
        "$dict (lists)"
    )


def _collection(tag: str, payload: list[Any], depth: int) -> Any:
    if tag == "$tuple":
        return tuple(_decoded_list(payload, depth))
    try:
        if tag == "$dict":
            pairs = [_pair(pair, index, depth) for index, pair in enumerate(payload)]
            _spread([key for key, _ in pairs])
            return dict(pairs)
        items = _decoded_list(payload, depth)
        _spread(items)
        return set(items) if tag == "$set" else frozenset(items)
    except TypeError as exc:  # an unhashable element or key
        raise Malformed(
            f'set elements and dict keys must be hashable ({exc}): write a list as {{"$tuple": '
            "[...]}"
        ) from None


def _spread(keys: list[Any]) -> None:
    """Refuse keys built to share a hash value (ints equal modulo 2**61 - 1, tuples of them):
    building a set of n of them costs O(n**2), seconds for a few thousand. Counting hashes is
    linear: a hash value, an int below 2**61, is its own hash."""
    counts: dict[int, int] = {}
    for value in map(hash, keys):
        counts[value] = counts.get(value, 0) + 1
    crowded = max(counts.values(), default=0)
    if crowded > HASH_FLOOD_LIMIT:
        raise Malformed(
            f"{crowded} set elements or dict keys share one hash value; refused as a "
            "hash-flooding value"
        )


def _dumps(data: Any) -> str:
    """``json.dumps``, imported on first use: it costs the sandbox's runners ~12 ms a start."""
    import json

    return json.dumps(data)


def _text_run(run: Any) -> str:
    if type(run) is str:
        return run
    if type(run) is int and 0 <= run <= 0x10FFFF:
        return chr(run)
    raise Malformed(f"$str holds text and code points, not {run!r:.60}")


def _pair(pair: Any, index: int, depth: int) -> tuple[Any, Any]:
    if type(pair) is not list or len(pair) != 2:
        raise Malformed(f"$dict entry {index} must be a [key, value] list")
    key = _step(_decode, pair[0], depth, f"[{index}][0]")
    return key, _step(_decode, pair[1], depth, f"[{index}][1]")
