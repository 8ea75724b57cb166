"""``scillm batch --api-base --api-key --timeout --json``, run as a user runs it (a subprocess
against the mock server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batch_helpers import (
    COMMAND_TIMEOUT_S,
    batch_env,
    read_jsonl,
    run_batch_command,
    start_batch_command,
    write_jsonl,
)

from scillm.testing import Fault, MockLLMServer

NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port


def ask(i: int) -> dict[str, Any]:
    return {"id": f"r{i}", "messages": [{"role": "user", "content": f"question {i}"}]}


def test_api_base_and_key_reach_every_call_and_json_prints_one_object(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [ask(i) for i in range(3)])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--json"]
    args += ["--api-base", mock_llm.base_url, "--api-key", "k-from-the-flag"]
    done = run_batch_command(args, batch_env(NOWHERE))  # the flag beats OPENAI_BASE_URL
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout is one JSON object: no table
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (3, 3, 0)
    assert summary["summary_path"] == f"{rows_out}.summary.json"
    assert "k-from-the-flag" not in done.stdout + done.stderr
    assert len(mock_llm.requests) == 3
    assert {r.headers["authorization"] for r in mock_llm.requests} == {"Bearer k-from-the-flag"}


def test_api_base_and_key_replace_the_deployments_of_a_router_config(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [ask(1)])
    config = rows_in.with_name("router.json")
    deployment = {"model": "openai/served", "api_base": NOWHERE, "api_key": "old"}
    entry = {"model_name": "fast", "litellm_params": deployment}
    config.write_text(json.dumps({"model_list": [entry]}))
    args = [str(rows_in), "-o", str(rows_out), "--router-config", str(config)]
    args += ["--api-base", mock_llm.base_url, "--api-key", "new", "--json"]
    done = run_batch_command(args, batch_env(NOWHERE))
    assert done.returncode == 0, done.stderr
    [request] = mock_llm.requests
    assert request.body is not None and request.body["model"] == "served"
    assert request.headers["authorization"] == "Bearer new"


def test_timeout_bounds_each_call(mock_llm: MockLLMServer, rows_in: Path, rows_out: Path) -> None:
    mock_llm.enqueue(*[Fault.delay(30)] * 4)  # the first call and every retry hang
    write_jsonl(rows_in, [ask(1)])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--timeout", "1", "--json"]
    done = run_batch_command(args, batch_env(mock_llm.base_url))
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["failed"] == 1
    [row] = read_jsonl(rows_out)
    assert row["ok"] is False and "Timeout" in row["error"]["type"], row


def test_bad_values_are_refused_before_any_call(
    mock_llm: MockLLMServer, rows_in: Path, tmp_path: Path
) -> None:
    write_jsonl(rows_in, [ask(1)])
    base = [str(rows_in), "-o", str(tmp_path / "o.jsonl"), "-m", "openai/mock"]
    cases = {
        "timeout 0": ["--timeout", "0"],
        "timeout nan": ["--timeout", "nan"],
        "timeout words": ["--timeout", "soon"],
        "api-base scheme": ["--api-base", "file:///etc/passwd"],
        "api-base empty": ["--api-base", ""],
    }
    env = batch_env(mock_llm.base_url)
    procs = {what: start_batch_command([*base, *extra], env) for what, extra in cases.items()}
    for what, proc in procs.items():
        out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
        assert proc.returncode == 2, (what, out, err)
        assert "Traceback" not in err, what
    assert mock_llm.requests == []
    assert not (tmp_path / "o.jsonl").exists()


def test_a_row_cannot_send_the_key_elsewhere(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    """A row naming its own endpoint would get --api-key (or the environment's key)."""
    with MockLLMServer() as elsewhere:
        write_jsonl(
            rows_in,
            [
                {"id": "evil", "prompt": "hi", "api_base": elsewhere.base_url},
                {"id": "hdr", "prompt": "hi", "extra_headers": {"x-steal": "1"}},
                {"id": "fine", "prompt": "hi"},
            ],
        )
        args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--no-progress"]
        args += ["--api-base", mock_llm.base_url, "--api-key", "k-from-the-flag"]
        done = run_batch_command(args, batch_env(NOWHERE))
        assert elsewhere.requests == []
    assert done.returncode == 1, done.stderr
    results = {row["id"]: row for row in read_jsonl(rows_out)}
    assert "may not set 'api_base'" in results["evil"]["error"]["message"]
    assert "may not set 'extra_headers'" in results["hdr"]["error"]["message"]
    assert "response" in results["fine"]
    assert len(mock_llm.requests) == 1  # only the clean row was sent
