"""Reading requests: every problem reported with its field path, the original's shapes accepted."""

from __future__ import annotations

from typing import Any

import pytest

import scillm.codeworld as codeworld
from scillm.codeworld import InvalidRequest
from scillm.codeworld.request import parse_request
from scillm.errors import BadRequestError

ADD = "def solve(a, b):\n    return a + b\n"


def envelope(items: Any, **args: Any) -> dict[str, Any]:
    return {"messages": [], "items": items, "provider": {"name": "codeworld", "args": args}}


def item(**fields: Any) -> dict[str, Any]:
    base = {"id": "add", "variants": {"a": ADD}, "tests": [{"args": [1, 2], "expected": 3}]}
    return {**base, **fields}


def problems(body: Any) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body)
    return {".".join(map(str, p.loc)): p.message for p in caught.value.problems}


def test_the_public_surface_is_pinned() -> None:
    assert codeworld.__all__ == [
        "BUILTIN_METRICS",
        "DEFAULT_WEIGHTS",
        "FUNCTION_LANGUAGES",
        "SCHEMA",
        "STRATEGIES",
        "VERDICTS",
        "BridgeSettings",
        "EngineSettings",
        "InvalidRequest",
        "Problem",
        "Sessions",
        "aevaluate",
        "create_app",
        "evaluate",
    ]
    assert issubclass(InvalidRequest, BadRequestError)
    assert codeworld.DEFAULT_WEIGHTS == {"correctness": 0.7, "speed": 0.2, "brevity": 0.1}


def test_a_good_request_is_read_with_defaults() -> None:
    request = parse_request(envelope([item()]))
    [parsed] = request.items
    assert (parsed.language, parsed.mode, parsed.entrypoint) == ("python", "function", None)
    assert [v.id for v in parsed.variants] == ["a"]
    assert parsed.tests[0].args == (1, 2) and parsed.tests[0].checked
    assert request.config.strategy == "baseline"
    assert request.config.max_seconds == 300


def test_unknown_language_lists_the_supported_ones() -> None:
    found = problems(envelope([item(language="cobol")]))
    assert (
        "unknown language 'cobol'; supported: bash, c, cpp, javascript, python"
        in found["items.0.language"]
    )


def test_every_problem_comes_back_at_once_with_its_path() -> None:
    bad = item(
        tests=[{"args": [1], "expected": 1, "weight": -1}, {"stdin": "x"}],
        variants=[{"id": "a", "code": ""}],
        entrypoint="not a name",
        colour="red",
    )
    found = problems(envelope([bad], strategy="dfs", rollouts=3))
    assert set(found) >= {
        "items.0.tests.0.weight",
        "items.0.tests.1.stdin",
        "items.0.variants.0.code",
        "items.0.entrypoint",
        "items.0.colour",
        "provider.args.strategy",
    }
    assert "unknown field" in found["items.0.colour"]


def test_compiled_languages_need_stdio_mode() -> None:
    found = problems(envelope([item(language="c")]))
    assert "set mode 'stdio'" in found["items.0.mode"]
    stdio = {"id": "c", "language": "c", "mode": "stdio", "variants": {"a": "int main(){}"}}
    ok = parse_request(envelope([{**stdio, "tests": [{"stdin": "1", "expected_stdout": "1"}]}]))
    assert ok.items[0].tests[0].stdin == "1" and ok.items[0].tests[0].expected == "1"
    wrong = problems(envelope([{**stdio, "tests": [{"args": [1]}]}]))
    assert "stdin" in wrong["items.0.tests.0.args"]


def test_the_originals_context_shape_is_one_test() -> None:
    legacy = {
        "task_id": "sq",
        "task": "square",
        "context": {"code_variants": {"a": "def solve(x): return x * x"}, "expected": 9, "xs": 3},
    }
    [parsed] = parse_request(envelope([legacy])).items
    assert parsed.id == "sq"
    assert [v.id for v in parsed.variants] == ["a"]
    assert [(t.args, t.expected) for t in parsed.tests] == [((3,), 9)]


def test_metric_weights_and_search_arguments_are_checked() -> None:
    found = problems(envelope([item()], weights={"beauty": 1}))
    assert "unknown metric" in found["provider.args.weights.beauty"]
    found = problems(envelope([item()], rollouts=4))
    assert "strategy 'mcts' only" in found["provider.args.rollouts"]
    found = problems(envelope([item()], strategy="mcts", uct_c=1, exploration_constant=2))
    assert "alias of uct_c" in found["provider.args.exploration_constant"]
    config = parse_request(envelope([item()], strategy="mcts", exploration_constant=0.5)).config
    assert config.search.uct_c == 0.5


def test_baseline_needs_variants_but_mcts_can_start_from_none() -> None:
    found = problems(envelope([item(variants={})]))
    assert "baseline" in found["items.0.variants"]
    assert parse_request(envelope([item(variants={})], strategy="mcts")).items[0].variants == ()


def test_legacy_envelope_fields_are_honoured() -> None:
    body = {
        **envelope([item()], strategy="mcts"),
        "codeworld_iterations": 5,
        "codeworld_metrics": {"correctness": 1},
        "request_timeout": 30,
        "options": {"max_seconds": 100, "session_id": "s"},
    }
    config = parse_request(body).config
    assert (config.search.rollouts, config.weights, config.max_seconds) == (
        5,
        {"correctness": 1.0},
        30,
    )
    found = problems({**body, "codeworld_allowed_languages": ["javascript"]})
    assert "not in" in found["items.0.language"]


def test_the_seed_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "42")
    assert parse_request(envelope([item()])).config.seed == 42
    assert parse_request(envelope([item()], seed=7)).config.seed == 7
    monkeypatch.delenv("SCILLM_DETERMINISTIC_SEED")
    assert parse_request(envelope([item()])).config.seed >= 0  # fresh, and reported
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "forty")
    found = problems(envelope([item()]))
    assert "SCILLM_DETERMINISTIC_SEED='forty' is not an integer" in found["seed"]
    assert parse_request(envelope([item()], seed=7)).config.seed == 7  # the variable is not read
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "-1")
    assert "negative" in problems(envelope([item()]))["seed"]


def test_search_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "SCILLM_CODEWORLD_MCTS_AUTO_N"):
        monkeypatch.delenv(name, raising=False)
    mcts = envelope([item()], strategy="mcts")

    def search(body: dict[str, Any]) -> tuple[int, int]:
        found = parse_request(body).config.search
        return found.rollouts, found.n_variants

    monkeypatch.setenv("SCILLM_CI", "0")  # a flag: 0 is not CI
    monkeypatch.delenv("CODEWORLD_MCTS_AUTO_N", raising=False)
    assert search(mcts) == (64, 6)
    monkeypatch.setenv("SCILLM_CI", "1")
    monkeypatch.setenv("CODEWORLD_MCTS_AUTO_N", "3")
    assert search(mcts) == (24, 3)
    assert search(envelope([item()], strategy="mcts", n_variants=2)) == (24, 2)
    monkeypatch.setenv("SCILLM_CI", "sometimes")
    monkeypatch.setenv("CODEWORLD_MCTS_AUTO_N", "three")
    found = problems(mcts)
    assert "SCILLM_CI='sometimes' is not a flag" in found["provider.args"]
    assert "CODEWORLD_MCTS_AUTO_N='three' is not an integer" in found["provider.args.n_variants"]


def test_values_that_cannot_travel_are_refused_with_their_place() -> None:
    found = problems(envelope([item(tests=[{"args": [{"k": [0, object()]}], "expected": 3}])]))
    message = found["items.0.tests.0.args"]
    assert message.startswith('args[0]["k"][1]: cannot carry a value of type object')


def test_an_item_without_a_task_takes_the_last_user_message() -> None:
    body = {**envelope([item()]), "messages": [{"role": "user", "content": "Add them"}]}
    assert parse_request(body).items[0].task == "Add them"
