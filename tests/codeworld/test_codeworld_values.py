"""The value codec: exact round trips in Python and through node, clear errors, and the
comparisons and request fields built on it."""

from __future__ import annotations

import collections
import enum
import json
import math
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scillm.codeworld import BridgeSettings, InvalidRequest, aevaluate, create_app
from scillm.codeworld.items import Test
from scillm.codeworld.prompts import new_program_messages
from scillm.codeworld.request import parse_request
from scillm.codeworld.values import MAX_DEPTH, Malformed, Unencodable, decode, encode
from scillm.codeworld.verdicts import TestVerdict, json_safe, same_value

CODEC_JS = Path(__file__).parents[2] / "src/scillm/codeworld/_values.js"
SAMPLES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**53 - 1,
    2**53,
    -(2**64),
    7**2000,  # past 2000 bits: hex
    -(7**2000),
    0.5,
    2.0,
    1e300,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    "",
    "plain",
    "é ∑ 😀",
    "\ud800",
    "a\udfffb\ud83d",
    "\ud83d\ude00",  # two surrogate code points, not the one emoji
    b"",
    b"\x00\xff bytes",
    bytearray(b"ab"),
    [],
    [1, [2, [3]]],
    (),
    (1,),
    (1, (2, "x"), [3]),
    {},
    {"a": 1, "b": [True]},
    {5: "banana", "p": "pineapple", "a": "apple"},  # HumanEval/95's mixed keys
    {1: "a", 2: "b"},
    {(1, 2): "pair", None: 0, 1.5: "f", True: "t", b"k": "bytes", frozenset({1}): "fs"},
    {"$tuple": [1, 2], "x": 1},  # a dict that looks like a tag
    {"__proto__": 1, "constructor": 2},
    {"z": 1, "a": 2, "m": 3},  # insertion order kept
    set(),
    {1, "1", (1, 2)},
    frozenset({frozenset({1}), 2}),
    [{1: {2: {3: (4, {5})}}}],
]


def strict(value: Any) -> Any:
    """A form equal only for values of the same types, in the same order where order counts."""
    kind = type(value).__name__
    if isinstance(value, float):
        return (kind, value.hex() if not math.isnan(value) else "nan")
    if isinstance(value, list | tuple):
        return (kind, [strict(v) for v in value])
    if isinstance(value, dict):
        return (kind, [(strict(k), strict(v)) for k, v in value.items()])
    if isinstance(value, set | frozenset):
        return (kind, sorted((strict(v) for v in value), key=repr))
    return (kind, value)


def wire(value: Any) -> str:
    """The encoding as strict JSON text, checked to be valid UTF-8 as well."""
    text = json.dumps(encode(value), allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    return text


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: repr(v)[:30])
def test_every_sample_round_trips_exactly(value: Any) -> None:
    back = decode(json.loads(wire(value)))
    want = bytes(value) if isinstance(value, bytearray) else value
    assert strict(back) == strict(want)


def random_value(rng: random.Random, depth: int = 0, hashable: bool = False) -> Any:
    scalars = [
        lambda: None,
        lambda: rng.random() < 0.5,
        lambda: rng.randint(-(2**70), 2**70) if rng.random() < 0.2 else rng.randint(-9, 9),
        lambda: rng.choice([0.1, -2.5, 1e-9, 3.0, float("inf"), float("nan"), -0.0]),
        lambda: "".join(rng.choice("ab$_é😀\ud800\udc00\x00") for _ in range(rng.randint(0, 4))),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(0, 4))),
    ]
    pick = rng.randrange(len(scalars) + (0 if depth >= 4 else 5))
    if pick < len(scalars):
        return scalars[pick]()
    items = [random_value(rng, depth + 1, hashable) for _ in range(rng.randint(0, 3))]
    kind = pick - len(scalars)
    if hashable and kind in (0, 3, 4):  # list, dict, set: unhashable
        kind = 1
    if kind == 0:
        return items
    if kind == 1:
        return tuple(items)
    if kind == 2:
        return frozenset(random_value(rng, depth + 1, True) for _ in range(rng.randint(0, 3)))
    if kind == 3:
        return {random_value(rng, depth + 1, True) for _ in range(rng.randint(0, 3))}
    keys = [random_value(rng, depth + 1, True) for _ in items]
    return dict(zip(keys, items, strict=True))


RANDOM_VALUES = [random_value(random.Random(seed)) for seed in range(400)]


def test_random_nested_values_round_trip_exactly() -> None:
    for value in RANDOM_VALUES:
        assert strict(decode(json.loads(wire(value)))) == strict(value), value


def test_plain_json_travels_as_itself() -> None:
    plain = {"a": [1, -2.5, "x", None, True, {"b": []}], "é": "😀", "n": 2**53 - 1}
    assert encode(plain) == plain
    assert json.dumps(encode(plain)) == json.dumps(plain)
    assert decode(plain) == plain


def test_the_tagged_forms() -> None:
    assert encode((1, 2)) == {"$tuple": [1, 2]}
    assert encode({1: "a"}) == {"$dict": [[1, "a"]]}
    assert encode({"$x": 1}) == {"$dict": [["$x", 1]]}
    assert encode({"b", "a", 10}) == {"$set": ["a", "b", 10]}  # by JSON text: stable
    assert encode(frozenset()) == {"$frozenset": []}
    assert encode(2**53) == {"$int": "9007199254740992"}
    assert encode(-(2**2001)) == {"$int": hex(-(2**2001))}
    assert [encode(x) for x in (math.nan, math.inf, -math.inf, -0.0)] == [
        {"$float": "nan"},
        {"$float": "inf"},
        {"$float": "-inf"},
        {"$float": "-0"},
    ]
    assert encode("a\ud800") == {"$str": ["a", 0xD800, ""]}
    assert encode(b"\x00\x01") == {"$bytes": "AAE="}
    assert decode({"$int": "12"}) == 12  # hand-written tags may be small
    assert decode({"$dict": [["a", 1]]}) == {"a": 1}


def test_subclasses_travel_as_their_base_type() -> None:
    class Color(enum.IntEnum):
        RED = 3

    class Name(str, enum.Enum):  # noqa: UP042 (str() of this one is "Name.ADA", not "ada")
        ADA = "ada"

    point = collections.namedtuple("point", "x y")
    value = [point(1, 2), Color.RED, Name.ADA, collections.Counter("aab"), bytearray(b"z")]
    assert strict(decode(encode(value))) == strict([(1, 2), 3, "ada", {"a": 2, "b": 1}, b"z"])


def test_values_it_cannot_carry_are_named_with_their_place() -> None:
    with pytest.raises(Unencodable) as caught:
        encode([1, {"k": [0, 1, object()]}], "args")
    assert str(caught.value).startswith('args[1]["k"][2]: cannot carry a value of type object')
    assert "use None, bool, int" in str(caught.value)
    with pytest.raises(Unencodable, match=r"^result\[0\] \(a dict key\): cannot .*function"):
        encode([{print: 1}], "result")
    with pytest.raises(Unencodable, match=r"^value\[1\]\[2\]: .* type decimal.Decimal"):
        from decimal import Decimal

        encode([0, [1, 2, Decimal(1)]])


def test_depth_is_limited_and_a_cycle_is_an_error_not_a_crash() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert decode(json.loads(wire(deep))) == deep
    with pytest.raises(Unencodable, match=f"nests more than {MAX_DEPTH} containers"):
        encode([deep])
    with pytest.raises(Malformed, match=f"nests more than {MAX_DEPTH}"):
        decode(json.loads(json.dumps([encode(deep)])))
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(Unencodable, match="does it contain itself"):
        encode(cycle)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a": 1, "$b": 2}, r"a '\$' key must be a single tag"),
        ({"$tuple": [1, {"$nope": 2}]}, r"^value\.\$tuple\[1\]\.\$nope: unknown tag"),
        ({"$set": [[1]]}, "must be hashable"),
        ({"$dict": [[[1], 2]]}, "must be hashable"),
        ({"$dict": [[1]]}, r"entry 0 must be a \[key, value\] list"),
        ({"$int": "12x"}, "is not an integer"),
        ({"$float": "1.5"}, "unknown tag or bad payload"),
        ({"$bytes": "!!"}, "not base64"),
        ({"$str": ["a", -1]}, "text and code points"),
        ((1, 2), "a tuple is not JSON data"),
    ],
)
def test_data_outside_the_format_is_refused(data: Any, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        decode(data)


def js_image(value: Any, hashable: bool = False, key: bool = False) -> Any:
    """What ``value`` becomes after a trip through JavaScript (see _values.js). ``hashable``:
    inside a Set element or Map key; ``key``: that element or key itself."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        negative_zero = value == 0 and math.copysign(1, value) < 0
        return value if negative_zero and not key else int(value)  # a Set stores -0 as 0
    if isinstance(value, str):  # surrogate code points that pair up become one character
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list | tuple):
        items = [js_image(v, hashable) for v in value]
        return tuple(items) if hashable else items
    if isinstance(value, set | frozenset):
        items = {js_image(v, True, True) for v in value}
        return frozenset(items) if hashable else items
    if isinstance(value, dict):
        return {js_image(k, True, True): js_image(v) for k, v in value.items()}
    return value


def test_values_cross_to_javascript_and_back(need: Callable[[str], None]) -> None:
    need("javascript")
    values = SAMPLES + RANDOM_VALUES
    script = (
        f"const {{ encode, decode }} = require({json.dumps(str(CODEC_JS))});"
        "const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(data.map((d, i) => encode(decode(d), `v${i}`))));"
    )
    sent = json.dumps([encode(v) for v in values])
    run = subprocess.run(
        ["node", "-e", script], input=sent, capture_output=True, text=True, check=True
    )
    back = [decode(d) for d in json.loads(run.stdout)]
    for value, got in zip(values, back, strict=True):
        assert strict(got) == strict(js_image(value)), value


def test_javascript_values_python_cannot_hold_are_refused_with_their_place(
    need: Callable[[str], None],
) -> None:
    need("javascript")
    script = (
        f"const {{ encode }} = require({json.dumps(str(CODEC_JS))});"
        "const cycle = []; cycle.push(cycle);"
        "const bad = [[1, {k: [0, () => 1]}], new Date(0), Symbol('s'), new Set([{}]), cycle,"
        " new Map([[new Map(), 1]]), new Int32Array(2)];"
        "const out = bad.map((b) => { try { encode(b, 'result'); return 'encoded'; }"
        " catch (err) { return err.message; } });"
        "out.push(JSON.stringify(encode([new Map([[[1, 2], new Set([3])]]), 2n ** 64n,"
        " new Uint8Array([0, 255]), -0, NaN, 1.5, 2 ** 60, undefined, {}], 'result')));"
        "process.stdout.write(JSON.stringify(out));"
    )
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    *errors, encoded = json.loads(run.stdout)
    assert errors[0].startswith('result[1]["k"][1]: cannot carry a value of type function')
    assert errors[1].startswith("result: cannot carry a value of type Date")
    assert errors[2].startswith("result: cannot carry a value of type symbol")
    assert errors[3].startswith("result (a set element): a Set element or Map key cannot be a")
    assert "does it contain itself" in errors[4]
    assert errors[5].startswith("result (a dict key): ")
    assert "Array.from(x)" in errors[6]
    value = decode(json.loads(encoded))
    want = [{(1, 2): {3}}, 2**64, b"\x00\xff", -0.0, math.nan, 1.5, 2**60, None, {}]
    assert strict(value) == strict(want)


@pytest.mark.parametrize(
    ("got", "want", "language", "same"),
    [
        ((1, 2), (1, 2), "python", True),
        ([1, 2], (1, 2), "python", False),
        ((1, 2), [1, 2], "python", False),
        ([1, 2], (1, 2), "javascript", True),
        ([[1, 2]], [(1, 2)], "javascript", True),
        ({1, 2}, {2, 1}, "python", True),
        ({1, 2}, frozenset({1, 2}), "python", True),
        ({True}, {1}, "python", False),
        ({1.0}, {1}, "python", True),
        ({math.nan}, {math.nan}, "python", True),
        ({1: "a", "b": 2}, {"b": 2, 1: "a"}, "python", True),
        ({"1": "a"}, {1: "a"}, "python", False),
        ({True: "a"}, {1: "a"}, "python", False),
        ({(1, 2): [1]}, {(1, 2): [1.0]}, "javascript", True),
        (b"ab", b"ab", "python", True),
        (b"ab", "ab", "python", False),
        (math.nan, math.nan, "python", True),
        (1.0, math.nan, "python", False),
        (math.nan, 1.0, "python", False),
        (math.inf, math.inf, "python", True),
        (math.inf, -math.inf, "python", False),
        (2**80, 2**80, "python", True),
    ],
)
def test_comparison_of_decoded_values(got: Any, want: Any, language: str, same: bool) -> None:
    assert same_value(got, want, 0.0, language) is same


def test_outputs_show_in_json_results_through_the_codec() -> None:
    verdict = TestVerdict("t", "passed", "expected", 1.0, output={1: (math.nan, b"x")})
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["output"] == {"$dict": [[1, {"$tuple": [{"$float": "nan"}, {"$bytes": "eA=="}]}]]}
    assert json_safe([1, "a"]) == [1, "a"]


def request(tests: list[dict[str, Any]], **item: Any) -> dict[str, Any]:
    variants = {"a": "def solve(x):\n    return x\n"}
    item = {"id": "i", "variants": variants, "tests": tests, **item}
    return {"messages": [], "items": [item], "provider": {"name": "codeworld", "args": {}}}


def test_items_take_python_values_and_the_tagged_form_over_json() -> None:
    native = parse_request(request([{"args": [{5: "b", "p": "q"}], "expected": (1, {2})}]))
    [test] = native.items[0].tests
    assert strict(test.args) == strict(({5: "b", "p": "q"},))
    assert strict(test.expected) == strict((1, {2}))
    body = json.loads(json.dumps(request([{"args": encode([{5: "b"}]), "expected": encode((1,))}])))
    body["items"][0]["value_format"] = "tagged"
    tagged = parse_request(body)
    [test] = tagged.items[0].tests
    assert strict(test.args) == strict(({5: "b"},))
    assert strict(test.expected) == strict((1,))


def test_items_name_the_place_of_a_bad_value() -> None:
    def problems(body: dict[str, Any]) -> dict[str, str]:
        with pytest.raises(InvalidRequest) as caught:
            parse_request(body)
        return {".".join(map(str, p.loc)): p.message for p in caught.value.problems}

    found = problems(
        request([{"args": [1], "expected": {"$tuple": [{"$nope": 1}]}}], value_format="tagged")
    )
    assert found["items.0.tests.0.expected"].startswith("expected.$tuple[0].$nope: unknown tag")
    found = problems(request([{"args": [1]}], value_format="json"))
    assert found["items.0.value_format"] == "must be one of plain, tagged, not 'json'"
    found = problems(request([{"input": object()}]))
    assert found["items.0.tests.0.input"].startswith("cannot carry a value of type object")
    found = problems(request([{"args": {"$tuple": [1]}, "expected": 1}]))
    assert found["items.0.tests.0.args"] == "must be a list, not dict"  # tags need value_format


def test_an_item_with_sets_and_mixed_keys_has_an_execution_key() -> None:
    tests = [{"args": [{"b", "a", "c"}, {5: 1, "x": 2}], "expected": float("nan")}]
    assert len(parse_request(request(tests)).items[0].execution_key) == 64
    assert Test("t", args=({1},)).public("function")["args"] == [{1}]


def test_prompts_show_values_plain_json_cannot_as_python_literals() -> None:
    tests = [
        {"args": [{5: "a"}, [1, "x"]], "expected": (1, {2})},
        {"args": [[1.5, None]], "expected": True},
    ]
    [item] = parse_request(request(tests)).items
    prompt = new_program_messages(item)[-1]["content"]
    assert "solve({5: 'a'}, [1, \"x\"]) -> (1, {2})" in prompt
    assert "solve([1.5, null]) -> true" in prompt


def round_trip_item(language: str, code: str, expected: Any) -> dict[str, Any]:
    tests = [{"args": [v], "expected": expected(v)} for v in SAMPLES]
    return {"id": language, "language": language, "variants": {"echo": code}, "tests": tests}


@pytest.mark.usefixtures("isolated")
async def test_programs_receive_and_return_values_exactly(need: Callable[[str], None]) -> None:
    need("javascript")
    python = round_trip_item(
        "python",
        "def solve(x):\n    return type(x).__name__, x\n",
        lambda v: ("bytes" if isinstance(v, bytearray) else type(v).__name__, v),
    )
    javascript = round_trip_item("javascript", "function solve(x) { return x; }", js_image)
    payload = await aevaluate([python, javascript])
    for result in payload["results"]:
        assert result.get("status") == "solved", result.get("message") or result["tests"]


@pytest.mark.usefixtures("isolated")
async def test_the_bridge_takes_tagged_values_and_names_a_bad_one() -> None:
    item = {
        "id": "count",
        "value_format": "tagged",
        "variants": {"len": "def solve(d):\n    return len(d)\n"},
        "tests": [{"args": [{"$dict": [[1, "a"], ["b", 2]]}], "expected": 2}],
    }
    envelope = {"messages": [], "items": [item], "provider": {"name": "codeworld", "args": {}}}
    transport = httpx.ASGITransport(app=create_app(BridgeSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as bridge:
        solved = await bridge.post("/bridge/complete", json=envelope)
        item["tests"] = [{"args": [{"$set": [[1]]}], "expected": 2}]
        refused = await bridge.post("/bridge/complete", json=envelope)
    assert solved.status_code == 200
    assert solved.json()["results"][0]["status"] == "solved"
    assert refused.status_code == 422
    assert "args[0].$set: set elements and dict keys must be hashable" in refused.text
