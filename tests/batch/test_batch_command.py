"""``scillm batch`` run as a user runs it: ``python -m scillm batch`` in a subprocess, against
the mock server over loopback."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import (
    COMMAND_TIMEOUT_S,
    batch_env,
    read_jsonl,
    run_batch_command,
    start_batch_command,
    write_jsonl,
)

from scillm.batch.command import BatchOptions, InputError, prepare
from scillm.testing import Fault, MockLLMServer


def ask(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"r{i}", "messages": [{"role": "user", "content": f"question {i}"}], **extra}


def by_id(path: Path) -> dict[Any, dict[str, Any]]:
    rows = read_jsonl(path)
    assert len({str(row["id"]) for row in rows}) == len(rows), "an id appears twice"
    return {row["id"]: row for row in rows}


def test_runs_rows_with_overrides_then_resumes_without_calls(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    rows = [ask(i) for i in range(20)]
    rows.append({"id": 99, "prompt": "a prompt row", "temperature": 0.3, "max_tokens": 7})
    write_jsonl(rows_in, rows)
    env = batch_env(mock_llm.base_url)
    done = run_batch_command([str(rows_in), "-o", str(rows_out), "-m", "openai/mock"], env)
    assert done.returncode == 0, done.stderr
    out = by_id(rows_out)
    assert out["r3"]["response"]["choices"][0]["message"]["content"] == "question 3"
    assert out[99]["response"]["choices"][0]["message"]["content"] == "a prompt row"
    assert out["r3"]["scillm_router"]["error_type"] == "ok"
    body = next(r.body for r in mock_llm.requests if r.body and r.body.get("max_tokens") == 7)
    assert body["temperature"] == 0.3 and body["model"] == "mock"
    summary = json.loads(Path(f"{rows_out}.summary.json").read_text())
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (21, 21, 0)
    assert summary["tokens"] > 0 and "rows/s" in done.stdout

    again = run_batch_command([str(rows_in), "-o", str(rows_out), "-m", "openai/mock"], env)
    assert again.returncode == 0, again.stderr
    assert len(mock_llm.requests) == 21  # resumed: nothing left to call
    assert json.loads(Path(f"{rows_out}.summary.json").read_text())["skipped"] == 21


def test_bad_rows_become_error_rows_naming_their_line(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(
        rows_in,
        [
            ask(1),
            "{not json",
            ["a", "list"],
            {"id": 2.5, "prompt": "float id"},
            {"id": "m", "messages": "not a list"},
            {"prompt": "no id at all"},
            {"id": "both", "prompt": "p", "messages": []},
            ask(1),  # a duplicate id
            {"id": "typo", "prompt": "x", "temperatur": 1},
        ],
    )
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock"]
    done = run_batch_command(args, batch_env(mock_llm.base_url))
    assert done.returncode == 1, done.stderr
    out = by_id(rows_out)
    errors = {key: row["error"]["message"] for key, row in out.items() if row.get("ok") is False}
    assert len(out) == 8 and len(errors) == 6
    messages = "\n".join(errors.values())
    for line in (2, 3, 4, 5, 7):
        assert f"line {line}:" in messages
    assert "temperatur" in errors["typo"]  # refused by the Router, per row
    generated = [key for key in out if str(key).startswith("auto-") and "ok" not in out[key]]
    assert len(generated) == 1 and len(mock_llm.requests) == 2  # r1 and the row without id
    assert "line 2" in done.stdout and "--retry-failed" in done.stderr

    again = run_batch_command(args, batch_env(mock_llm.base_url))
    assert again.returncode == 1  # the error rows are still there
    assert len(read_jsonl(rows_out)) == 8 and len(mock_llm.requests) == 2


def test_strict_refuses_bad_input_before_any_call(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [ask(1), "{broken", {"id": 3}])
    done = run_batch_command(
        [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--strict"],
        batch_env(mock_llm.base_url),
    )
    assert done.returncode == 2
    assert "line 2" in done.stderr and "line 3" in done.stderr
    assert mock_llm.requests == [] and not rows_out.exists()


def test_refusals_before_any_call(mock_llm: MockLLMServer, rows_in: Path, tmp_path: Path) -> None:
    write_jsonl(rows_in, [ask(1)])
    env = batch_env(mock_llm.base_url)
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = {
        "output": [str(rows_in), "-o", str(blocker / "out.jsonl"), "-m", "openai/mock"],
        "input": [str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"), "-m", "x/y"],
        "same file": [str(rows_in), "-o", str(rows_in), "-m", "openai/mock"],
        "concurrency": [str(rows_in), "-o", str(tmp_path / "o.jsonl"), "-m", "x/y", "-c", "0"],
        "no model": [str(rows_in), "-o", str(tmp_path / "o.jsonl")],
    }
    procs = {what: start_batch_command(args, env) for what, args in cases.items()}
    for what, proc in procs.items():
        _, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
        assert proc.returncode == 2, (what, err)
        assert "error:" in err, what
    assert mock_llm.requests == []
    assert rows_in.read_text().count("\n") == 1


def router_config(base_url: str) -> dict[str, Any]:
    deployment = {"model": "openai/served", "api_base": base_url}
    return {"model_list": [{"model_name": "fast", "litellm_params": deployment}], "num_retries": 1}


def test_router_config_in_yaml(mock_llm: MockLLMServer, rows_in: Path, rows_out: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = rows_in.with_name("router.yaml")
    path.write_text(yaml.safe_dump(router_config(mock_llm.base_url)))
    write_jsonl(rows_in, [ask(i) for i in range(3)])
    env = batch_env("http://127.0.0.1:9/v1")  # unused: the config names the server
    done = run_batch_command([str(rows_in), "-o", str(rows_out), "--router-config", str(path)], env)
    assert done.returncode == 0, done.stderr
    assert {r.body["model"] for r in mock_llm.requests if r.body} == {"served"}
    assert by_id(rows_out)["r0"]["scillm_router"]["deployment"]


def test_router_config_in_json_and_litellm_layout(rows_in: Path, rows_out: Path) -> None:
    write_jsonl(rows_in, [ask(1)])
    path = rows_in.with_name("router.json")
    config = router_config("http://127.0.0.1:9/v1")
    config["router_settings"] = {"routing_strategy": "least-busy"}  # litellm proxy's layout
    path.write_text(json.dumps(config))
    plan = prepare(BatchOptions(rows_in, rows_out, router_config=path))
    try:
        assert plan.router.model_names == ["fast"] and plan.defaults == {"model": "fast"}
    finally:
        plan.close()
    path.write_text(json.dumps({**config, "no_such_option": 1}))
    with pytest.raises(InputError, match="no_such_option"):
        prepare(BatchOptions(rows_in, rows_out, router_config=path))
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="mapping"):
        prepare(BatchOptions(rows_in, rows_out, router_config=path))


def test_json_schema_checks_every_reply(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return '{"answer": 1}' if "good" in text else "no json here"

    mock_llm.set_reply(reply)
    schema = rows_in.with_name("schema.json")
    schema.write_text(json.dumps({"type": "object", "required": ["answer"]}))
    write_jsonl(rows_in, [{"id": "a", "prompt": "good"}, {"id": "b", "prompt": "bad"}])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--json-schema", str(schema)]
    done = run_batch_command(args, batch_env(mock_llm.base_url))
    assert done.returncode == 1
    out = by_id(rows_out)
    assert out["a"]["scillm_router"]["schema_valid"] is True and "ok" not in out["a"]
    assert out["b"]["ok"] is False and out["b"]["error"]["type"] == "invalid_json"
    assert out["b"]["response"]["choices"][0]["message"]["content"] == "no json here"

    bad_schema = rows_in.with_name("bad.json")
    bad_schema.write_text(json.dumps({"type": "no-such-type"}))
    args[-1] = str(bad_schema)
    assert run_batch_command(args, batch_env(mock_llm.base_url)).returncode == 2


def test_failed_rows_retry_only_with_retry_failed(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    mock_llm.enqueue(*(Fault.rate_limit(retry_after=0.01) for _ in range(3)))
    write_jsonl(rows_in, [ask(i, num_retries=0) for i in range(6)])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "-c", "1"]
    env = batch_env(mock_llm.base_url)
    first = run_batch_command(args, env)
    assert first.returncode == 1
    summary = json.loads(Path(f"{rows_out}.summary.json").read_text())
    assert (summary["failed"], summary["rate_limited"]) == (3, 3)
    failed = [row for row in read_jsonl(rows_out) if row.get("ok") is False]
    assert {row["error"]["type"] for row in failed} == {"RateLimitError"}
    assert failed[0]["scillm_router"]["error_type"] == "rate_limited"

    assert run_batch_command([*args, "--allow-failures"], env).returncode == 0
    assert len(mock_llm.requests) == 6
    retried = run_batch_command([*args, "--retry-failed"], env)
    assert retried.returncode == 0, retried.stderr
    assert len(mock_llm.requests) == 9


def test_deterministic_and_cache(mock_llm: MockLLMServer, rows_in: Path, tmp_path: Path) -> None:
    write_jsonl(rows_in, [ask(i, temperature=0.9) for i in range(4)])
    env = batch_env(mock_llm.base_url, SCILLM_CACHE_DIR=str(tmp_path / "cache"))
    flags = ["-m", "openai/mock", "--deterministic", "--cache"]
    first = run_batch_command([str(rows_in), "-o", str(tmp_path / "a.jsonl"), *flags], env)
    assert first.returncode == 0, first.stderr
    assert {r.body["temperature"] for r in mock_llm.requests if r.body} == {0}
    second = run_batch_command([str(rows_in), "-o", str(tmp_path / "b.jsonl"), *flags], env)
    assert second.returncode == 0, second.stderr
    assert len(mock_llm.requests) == 4  # every reply of the second run came from the cache
    assert all(row["scillm_router"]["cache_hit"] for row in read_jsonl(tmp_path / "b.jsonl"))


def test_rpm_paces_the_requests(mock_llm: MockLLMServer, rows_in: Path, rows_out: Path) -> None:
    rpm, rows = 300, 45  # 5 a second after a burst of 30 (a tenth of a minute's allowance)
    write_jsonl(rows_in, [ask(i) for i in range(rows)])
    launched = time.time()
    done = run_batch_command(
        [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--rpm", str(rpm)],
        batch_env(mock_llm.base_url),
    )
    assert done.returncode == 0, done.stderr
    last = max(r.received_at for r in mock_llm.requests)
    assert rows <= 30 + rpm / 60 * (last - launched) + 1


def test_stop_signals_leave_a_consistent_output_and_the_rerun_completes(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    mock_llm.latency_s = 0.02
    write_jsonl(rows_in, [ask(i) for i in range(400)])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "-c", "4"]
    env = batch_env(mock_llm.base_url)
    for signum in (signal.SIGTERM, signal.SIGINT):  # a scheduler's stop, then Ctrl-C
        before = len(by_id(rows_out)) if rows_out.exists() else 0
        proc = start_batch_command(args, env)
        deadline = time.monotonic() + 60
        while not rows_out.exists() or rows_out.read_bytes().count(b"\n") < before + 20:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert before + 20 <= len(by_id(rows_out)) < 400
        assert json.loads(Path(f"{rows_out}.summary.json").read_text())["interrupted"] is True

    mock_llm.latency_s = 0
    rest = run_batch_command(args, env)
    assert rest.returncode == 0, rest.stderr
    assert sorted(by_id(rows_out)) == sorted(f"r{i}" for i in range(400))
