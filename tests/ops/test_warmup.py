"""``scillm warmup`` against the mock server: timing, results JSON, strictness, the stamp."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from ops_helpers import (
    COMMAND_TIMEOUT_S,
    NOWHERE,
    clean_env,
    finish,
    invoke,
    json_out,
    run,
    start,
)

from scillm.testing import Fault, MockLLMServer


def warm(srv: MockLLMServer, *args: str) -> list[str]:
    return ["warmup", "--api-base", srv.base_url, "--api-key", "k", *args]


def test_every_model_answers_results_and_stamp_written(
    mock_llm: MockLLMServer, tmp_path: Path
) -> None:
    results, stamp = tmp_path / "out" / "results.json", tmp_path / "warm.stamp"
    args = warm(mock_llm, "-m", "openai/a", "--model", "openai/b,openai/c", "--out", str(results))
    done = run([*args, "--stamp", str(stamp), "--strict"], clean_env())
    assert done.returncode == 0, done.stderr
    assert "openai/c" in done.stdout and "ping" in done.stdout  # the table
    data = json.loads(results.read_text())
    assert data["ok"] is True
    assert [r["model"] for r in data["results"]] == ["openai/a", "openai/b", "openai/c"]
    assert all(r["ok"] and r["content"] == "ping" and r["elapsed_ms"] >= 0 for r in data["results"])
    assert json.loads(stamp.read_text())["models"] == ["openai/a", "openai/b", "openai/c"]
    bodies = [r.body for r in mock_llm.requests if r.body]
    assert len(bodies) == 3  # one call per model, no retries
    assert all(b["max_tokens"] == 8 and b["temperature"] == 0 for b in bodies)
    assert {b["model"] for b in bodies} == {"a", "b", "c"}


def test_one_failure_fails_only_when_strict_and_never_stamps(
    mock_llm: MockLLMServer, tmp_path: Path
) -> None:
    stamp = tmp_path / "warm.stamp"
    stamp.write_text("an old success")
    args = [*warm(mock_llm, "-m", "openai/a,openai/b", "--concurrency", "1", "--json")]
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.1))  # the first model's only call
    loose = run([*args, "--stamp", str(stamp)], clean_env())
    assert loose.returncode == 0, loose.stderr
    assert "1 of 2 model(s) failed" in loose.stderr
    data = json_out(loose)
    assert data["ok"] is False
    first, second = data["results"]
    assert not first["ok"] and "RateLimitError" in first["error"] and "content" not in first
    assert second["ok"] and second["content"] == "ping"
    assert not stamp.exists()  # the old stamp no longer claims a successful warm-up

    mock_llm.enqueue(Fault.http(500))
    strict = run([*args, "--stamp", str(stamp), "--strict"], clean_env())
    assert strict.returncode == 1, strict.stderr
    assert "ServerError" in json_out(strict)["results"][0]["error"]
    mock_llm.enqueue(Fault.http(500))
    by_env = run(args, clean_env(STRICT_WARMUPS="1"))  # the original's switch
    assert by_env.returncode == 1, by_env.stderr
    assert not stamp.exists()


def test_every_model_failing_fails_without_strict(tmp_path: Path) -> None:
    with MockLLMServer() as srv:
        down = srv.base_url
    stamp = tmp_path / "warm.stamp"
    done = run(
        ["warmup", "-m", "openai/a,openai/b", "--api-base", down, "--stamp", str(stamp)],
        clean_env(OPENAI_API_KEY="k"),
    )
    assert done.returncode == 1
    assert "2 of 2 model(s) failed (every model failed)" in done.stderr
    assert done.stdout.count("FAILED") == 2 and "ConnectionError" in done.stdout
    assert not stamp.exists()


def test_models_default_to_the_slot_variables(mock_llm: MockLLMServer) -> None:
    env = clean_env(
        LITELLM_DEFAULT_MODEL="openai/default",
        LITELLM_SMALL_TEXT_MODEL="openai/small",
        LITELLM_MED_TEXT_MODEL="openai/default",  # named twice, called once
    )
    done = run([*warm(mock_llm), "--json"], env)
    assert done.returncode == 0, done.stderr
    assert [r["model"] for r in json_out(done)["results"]] == ["openai/default", "openai/small"]
    assert len(mock_llm.requests) == 2


def test_router_config_calls_each_deployment(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    config = tmp_path / "router.json"
    entries = [
        {"model_name": "fast", "litellm_params": {"model": f"openai/{name}", "api_base": base}}
        for name, base in (("up", mock_llm.base_url), ("down", NOWHERE))
    ]
    config.write_text(json.dumps({"model_list": entries, "fallbacks": []}))
    done = run(["warmup", "--router-config", str(config), "--json"], clean_env(OPENAI_API_KEY="k"))
    assert done.returncode == 0, done.stderr  # one of two answered, not strict
    up, down = json_out(done)["results"]
    assert (up["model"], up["deployment"], up["ok"]) == ("fast", "openai/up", True)
    assert (down["deployment"], down["ok"]) == ("openai/down", False)
    assert [r.body["model"] for r in mock_llm.requests if r.body] == ["up"]


def test_ctrl_c_exits_130_and_stamps_nothing(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    mock_llm.enqueue(Fault.delay(60))
    stamp = tmp_path / "warm.stamp"
    proc = start([*warm(mock_llm, "-m", "openai/slow"), "--stamp", str(stamp)], clean_env())
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while not mock_llm.requests:
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc).stderr
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    done = finish(proc)
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert not stamp.exists()


def test_usage_errors_exit_2_before_any_call(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    bad_config = tmp_path / "router.json"
    bad_config.write_text('{"model_list": [{"model_name": "x"}]}')
    not_json = tmp_path / "router2.json"
    not_json.write_text("{oops")
    cases = {
        "no models": (["warmup"], {}),
        "timeout": ([*warm(mock_llm, "-m", "openai/a", "--timeout", "0")], {}),
        "concurrency": ([*warm(mock_llm, "-m", "openai/a", "-c", "0")], {}),
        "strict env": ([*warm(mock_llm, "-m", "openai/a")], {"STRICT_WARMUPS": "maybe"}),
        "config entry": (["warmup", "--router-config", str(bad_config)], {}),
        "config json": (["warmup", "--router-config", str(not_json)], {}),
        "config missing": (["warmup", "--router-config", str(tmp_path / "no")], {}),
    }
    for what, (args, env) in cases.items():
        done = invoke(args, env)
        assert done.exit_code == 2, (what, done.output)
        assert done.exception is None or isinstance(done.exception, SystemExit), what
    assert "LITELLM_DEFAULT_MODEL" in invoke(["warmup"], {}).stderr
    assert mock_llm.requests == []
