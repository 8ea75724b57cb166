"""Items: a task, its code variants and its tests, read from the caller's JSON.

    {"id": "add", "task": "Add two numbers", "language": "python", "entrypoint": "solve",
     "variants": [{"id": "a", "code": "def solve(x, y): return x + y"}],   # or {"a": "..."}
     "tests": [{"id": "t1", "args": [1, 2], "expected": 3, "timeout_s": 2, "weight": 1}]}

``mode: "stdio"`` runs a whole program per test: ``stdin`` (or ``input``) in,
``expected_stdout`` (or ``expected``) compared line by line, trailing whitespace ignored.
The original's shape is read too: ``task_id``, ``context.code_variants`` ({name: code}),
``context.expected`` with ``context.input`` (or ``xs``) as one test. A test without an expected
value is scored by how the run ended (no exception, exit status 0).

A function test's ``args`` and ``expected`` are values that :mod:`scillm.codeworld.values`
carries exactly: from Python, any mix of None, bool, int, float (NaN and infinities too), str,
bytes, list, tuple, dict (any hashable keys), set and frozenset; over JSON (the HTTP bridge),
plain JSON data, or, with the item's ``"value_format": "tagged"``, that module's tagged form, so
``{"$dict": [[1, "a"]]}`` is the dict ``{1: "a"}`` and ``{"$tuple": [1, 2]}`` the tuple (1, 2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scillm.codeworld.validation import MISSING, Checker, Loc
from scillm.codeworld.values import Malformed, Unencodable, decode, encode
from scillm.sandbox import LANGUAGES

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "FUNCTION_LANGUAGES",
    "Item",
    "Test",
    "Variant",
    "parse_items",
]

LANGUAGE_ALIASES = {"py": "python", "js": "javascript", "node": "javascript", "c++": "cpp"}
FUNCTION_LANGUAGES = ("javascript", "python")  # the languages with a function-call harness
DEFAULT_ENTRYPOINTS = ("solve", "main")  # tried in order when an item names none
DEFAULT_TIMEOUT_S = 5.0
MAX_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 512
MAX_MEMORY_MB = 4096
MAX_CODE_CHARS = 1_000_000
MAX_VARIANTS = 256  # per item
MAX_TESTS = 1000  # per item
ITEM_KEYS = (
    "id",
    "task_id",
    "task",
    "language",
    "mode",
    "entrypoint",
    "variants",
    "tests",
    "context",
    "timeout_s",
    "memory_mb",
    "value_format",
)
VALUE_FORMATS = ("plain", "tagged")  # how args/expected are given: as values, or values.encode's
TEST_KEYS = (
    "id",
    "args",
    "input",
    "stdin",
    "expected",
    "expected_stdout",
    "timeout_s",
    "weight",
    "tolerance",
)
IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class Test:
    """One test: ``args`` for a function call, or ``stdin`` for a program; ``checked`` is False
    when there is no expected value (the run's ending alone decides)."""

    __test__ = False  # not a pytest test class, despite the name

    id: str
    args: tuple[Any, ...] = ()
    stdin: str = ""
    expected: Any = None
    checked: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    weight: float = 1.0
    tolerance: float = 0.0

    def public(self, mode: str) -> dict[str, Any]:
        """The test as reports, prompts and scoring functions see it."""
        data: dict[str, Any] = {"id": self.id}
        if mode == "stdio":
            data["stdin"] = self.stdin
            data["expected_stdout"] = self.expected if self.checked else None
        else:
            data["args"] = list(self.args)
            data["expected"] = self.expected if self.checked else None
        data.update(timeout_s=self.timeout_s, weight=self.weight)
        if self.tolerance:
            data["tolerance"] = self.tolerance
        return data


@dataclass(frozen=True)
class Variant:
    """One program to judge."""

    id: str
    code: str


@dataclass(frozen=True)
class Item:
    """A checked item. ``entrypoint`` None (function mode) means ``solve``, else ``main``."""

    index: int
    id: str
    task: str
    language: str
    mode: str
    entrypoint: str | None
    variants: tuple[Variant, ...]
    tests: tuple[Test, ...]
    memory_mb: int = DEFAULT_MEMORY_MB
    context: Mapping[str, Any] = field(default_factory=dict)

    def public_tests(self) -> list[dict[str, Any]]:
        return [t.public(self.mode) for t in self.tests]

    @functools.cached_property
    def execution_key(self) -> str:
        """Hash of everything but the code that decides how a program runs here."""
        spec = [self.language, self.mode, self.entrypoint, self.memory_mb, self.public_tests()]
        return hashlib.sha256(json.dumps(encode(spec), sort_keys=True).encode()).hexdigest()


def parse_items(raw: Any, check: Checker, loc: Loc = ("items",)) -> list[Item]:
    """The request's items; problems go to ``check`` (the caller raises them all at once)."""
    values = check.sequence(raw, loc, required=True)
    if values is not None and not values:
        check.add(loc, "must hold at least one item")
    items = [_item(value, i, check, (*loc, i)) for i, value in enumerate(values or ())]
    found = [item for item in items if item is not None]
    seen: set[str] = set()
    for item in found:
        if item.id in seen:
            check.add((*loc, item.index, "id"), f"duplicate item id {item.id!r}")
        seen.add(item.id)
    return found


def _item(raw: Any, index: int, check: Checker, loc: Loc) -> Item | None:
    obj = check.mapping(raw, loc, required=True)
    if obj is None:
        return None
    before = len(check.problems)
    check.known_keys(obj, ITEM_KEYS, loc)
    context = check.mapping(obj.get("context"), (*loc, "context")) or {}
    _json_data(context, check, (*loc, "context"))
    language = _language(obj.get("language", "python"), check, (*loc, "language"))
    mode = _mode(obj, language, check, loc)
    tagged = _value_format(obj.get("value_format", "plain"), check, (*loc, "value_format"))
    default_timeout = check.number(obj.get("timeout_s"), (*loc, "timeout_s"), positive=True)
    memory = check.integer(obj.get("memory_mb"), (*loc, "memory_mb"), minimum=32)
    if memory is not None and memory > MAX_MEMORY_MB:
        check.add((*loc, "memory_mb"), f"must be at most {MAX_MEMORY_MB}")
    item_id = obj.get("id", obj.get("task_id", str(index)))
    if isinstance(item_id, bool) or not isinstance(item_id, str | int) or item_id == "":
        check.add((*loc, "id"), "must be a non-empty string or an integer")
    variants = _variants(obj, context, check, loc)
    timeout = default_timeout or DEFAULT_TIMEOUT_S
    tests = _tests(obj, context, mode, tagged, timeout, check, loc)
    task = check.string(obj.get("task", ""), (*loc, "task"))
    if len(check.problems) > before:
        return None
    return Item(
        index=index,
        id=str(item_id),
        task=task or "",
        language=language or "python",
        mode=mode or "function",
        entrypoint=obj.get("entrypoint"),
        variants=tuple(variants),
        tests=tuple(tests),
        memory_mb=memory or DEFAULT_MEMORY_MB,
        context=context,
    )


def _language(raw: Any, check: Checker, loc: Loc) -> str | None:
    name = check.string(raw, loc)
    if name is None:
        return None
    name = LANGUAGE_ALIASES.get(name.lower(), name.lower())
    if name not in LANGUAGES:
        check.add(loc, f"unknown language {raw!r}; supported: {', '.join(sorted(LANGUAGES))}")
        return None
    return name


def _mode(obj: Mapping[str, Any], language: str | None, check: Checker, loc: Loc) -> str | None:
    mode = obj.get("mode", "function")
    entry = obj.get("entrypoint")
    if mode not in ("function", "stdio"):
        check.add((*loc, "mode"), f"must be 'function' or 'stdio', not {mode!r}")
        return None
    if mode == "stdio" and entry is not None:
        check.add((*loc, "entrypoint"), "stdio programs have no entrypoint: drop one of them")
    if entry is not None and not (isinstance(entry, str) and IDENTIFIER.match(entry)):
        check.add((*loc, "entrypoint"), f"must be a function name, not {entry!r}")
    if mode == "function" and language is not None and language not in FUNCTION_LANGUAGES:
        check.add(
            (*loc, "mode"),
            f"{language} programs are judged whole: set mode 'stdio' (function entrypoints "
            f"are supported for {', '.join(FUNCTION_LANGUAGES)})",
        )
    return str(mode)


def _value_format(raw: Any, check: Checker, loc: Loc) -> bool:
    """Whether args/expected are in the tagged form."""
    if raw not in VALUE_FORMATS:
        check.add(loc, f"must be one of {', '.join(VALUE_FORMATS)}, not {raw!r}")
    return bool(raw == "tagged")


def _variants(
    obj: Mapping[str, Any], context: Mapping[str, Any], check: Checker, loc: Loc
) -> list[Variant]:
    raw, vloc = obj.get("variants"), (*loc, "variants")
    if "code_variants" in context:
        if raw is not None:
            check.add(vloc, "give variants or context.code_variants, not both")
            return []
        raw, vloc = context["code_variants"], (*loc, "context", "code_variants")
    if raw is None:
        return []
    pairs: list[tuple[Any, Any, Loc]] = []
    if isinstance(raw, Mapping):
        pairs = [(name, code, (*vloc, str(name))) for name, code in raw.items()]
    else:
        for i, value in enumerate(check.sequence(raw, vloc) or ()):
            entry = check.mapping(value, (*vloc, i), required=True) or {}
            check.known_keys(entry, ("id", "code"), (*vloc, i))
            pairs.append((entry.get("id", f"v{i}"), entry.get("code"), (*vloc, i)))
    if len(pairs) > MAX_VARIANTS:
        check.add(vloc, f"at most {MAX_VARIANTS} variants per item")
    return _checked_variants(pairs, check)


def _checked_variants(pairs: list[tuple[Any, Any, Loc]], check: Checker) -> list[Variant]:
    variants, seen = [], set()
    for variant_id, code, vloc in pairs:
        if (
            isinstance(variant_id, bool)
            or not isinstance(variant_id, str | int)
            or variant_id == ""
        ):
            check.add((*vloc, "id"), "must be a non-empty string or an integer")
            continue
        if not isinstance(code, str) or not code.strip():
            check.add((*vloc, "code"), "must be a non-empty string of source code")
            continue
        if len(code) > MAX_CODE_CHARS:
            check.add((*vloc, "code"), f"is longer than {MAX_CODE_CHARS} characters")
            continue
        if str(variant_id) in seen:
            check.add((*vloc, "id"), f"duplicate variant id {variant_id!r}")
        seen.add(str(variant_id))
        variants.append(Variant(str(variant_id), code))
    return variants


def _tests(
    obj: Mapping[str, Any],
    context: Mapping[str, Any],
    mode: str | None,
    tagged: bool,
    default_timeout: float,
    check: Checker,
    loc: Loc,
) -> list[Test]:
    raw, tloc = obj.get("tests"), (*loc, "tests")
    if raw is None and "expected" in context:
        legacy = _test(
            _legacy_test(context), 0, mode, tagged, default_timeout, check, (*loc, "context")
        )
        return [legacy] if legacy else []
    values = check.sequence(raw, tloc, required=True) or []
    if raw is not None and not values:
        check.add(tloc, "must hold at least one test")
    if len(values) > MAX_TESTS:
        check.add(tloc, f"at most {MAX_TESTS} tests per item")
    tests = [
        _test(v, i, mode, tagged, default_timeout, check, (*tloc, i)) for i, v in enumerate(values)
    ]
    found = [t for t in tests if t is not None]
    if len({t.id for t in found}) < len(found):
        check.add(tloc, "test ids must be unique")
    if found and sum(t.weight for t in found) <= 0:
        check.add(tloc, "the test weights must not all be 0")
    return found


def _legacy_test(context: Mapping[str, Any]) -> dict[str, Any]:
    """The original's ``context.expected`` (+ ``input`` or ``xs``) as one test."""
    test: dict[str, Any] = {"id": "expected", "expected": context["expected"]}
    for key in ("input", "xs"):
        if key in context:
            test["args"] = [context[key]]
            break
    return test


def _test(
    raw: Any,
    index: int,
    mode: str | None,
    tagged: bool,
    default_timeout: float,
    check: Checker,
    loc: Loc,
) -> Test | None:
    obj = check.mapping(raw, loc, required=True)
    if obj is None:
        return None
    before = len(check.problems)
    check.known_keys(obj, TEST_KEYS, loc)
    test_id = obj.get("id", f"t{index}")
    if isinstance(test_id, bool) or not isinstance(test_id, str | int) or test_id == "":
        check.add((*loc, "id"), "must be a non-empty string or an integer")
    timeout = check.number(obj.get("timeout_s"), (*loc, "timeout_s"), positive=True)
    if timeout is not None and timeout > MAX_TIMEOUT_S:
        check.add((*loc, "timeout_s"), f"must be at most {MAX_TIMEOUT_S:g} s")
    weight = check.number(obj.get("weight", 1.0), (*loc, "weight"))
    tolerance = check.number(obj.get("tolerance", 0.0), (*loc, "tolerance"))
    if mode == "stdio":
        args, stdin, expected = (), _stdio_input(obj, check, loc), _stdio_expected(obj, check, loc)
    else:
        args = _call_args(obj, tagged, check, loc)
        stdin, expected = "", _call_expected(obj, tagged, check, loc)
    if len(check.problems) > before:
        return None
    return Test(
        id=str(test_id),
        args=args,
        stdin=stdin,
        expected=None if expected is MISSING else expected,
        checked=expected is not MISSING,
        timeout_s=timeout or default_timeout,
        weight=1.0 if weight is None else weight,
        tolerance=tolerance or 0.0,
    )


def _call_args(obj: Mapping[str, Any], tagged: bool, check: Checker, loc: Loc) -> tuple[Any, ...]:
    for key in ("stdin", "expected_stdout"):
        if key in obj:
            check.add((*loc, key), "belongs to mode 'stdio'; a function test has args/expected")
    if "args" in obj and "input" in obj:
        check.add((*loc, "args"), "give args (a list) or input (one argument), not both")
    if "input" in obj:
        value = _value(obj["input"], tagged, check, (*loc, "input"))
        return () if value is MISSING else (value,)
    args = _value(obj.get("args") or [], tagged, check, (*loc, "args"))
    if args is MISSING:
        return ()
    if not isinstance(args, list | tuple):
        check.add((*loc, "args"), f"must be a list, not {type(args).__name__}")
        return ()
    return tuple(args)


def _call_expected(obj: Mapping[str, Any], tagged: bool, check: Checker, loc: Loc) -> Any:
    if "expected" not in obj:
        return MISSING
    return _value(obj["expected"], tagged, check, (*loc, "expected"))


def _value(raw: Any, tagged: bool, check: Checker, loc: Loc) -> Any:
    """The value ``raw`` gives (decoded when tagged, else checked and copied); MISSING if bad."""
    root = str(loc[-1])
    try:
        return decode(raw, root) if tagged else decode(encode(raw, root))
    except (Unencodable, Malformed) as exc:
        check.add(loc, str(exc) if exc.steps else exc.reason)
        return MISSING


def _json_data(value: Any, check: Checker, loc: Loc) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        check.add(loc, f"must be JSON data (lists, objects, strings, finite numbers): {exc}")


def _stdio_input(obj: Mapping[str, Any], check: Checker, loc: Loc) -> str:
    if "args" in obj:
        check.add((*loc, "args"), "stdio programs take stdin (or input), not args")
    if "stdin" in obj and "input" in obj:
        check.add((*loc, "stdin"), "give stdin or input, not both")
    key = "stdin" if "stdin" in obj else "input"
    return check.string(obj.get(key, ""), (*loc, key)) or ""


def _stdio_expected(obj: Mapping[str, Any], check: Checker, loc: Loc) -> Any:
    if "expected_stdout" in obj and "expected" in obj:
        check.add((*loc, "expected"), "give expected_stdout or expected, not both")
    key = "expected_stdout" if "expected_stdout" in obj else "expected"
    if key not in obj:
        return MISSING
    return check.string(obj[key], (*loc, key), required=True)
