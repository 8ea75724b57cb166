"""Run records and cost: what ``scillm batch`` and the proxy write, in one documented format;
prices from genai-prices, unknown ones null; ``--max-cost`` stops cleanly and resumes."""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path

import httpx
import pytest
from report_helpers import (
    ROWS,
    UNPRICED_MODEL,
    BatchRun,
    mock_env,
    question,
    read_jsonl,
    scillm,
    write_jsonl,
)

from scillm.cost import CostMeter, call_cost
from scillm.report import load_run
from scillm.runrecord import RECORD_VERSION, build_record, record_of
from scillm.testing import MockLLMServer

DOCS = Path(__file__).parents[2] / "docs" / "records.md"


def documented_fields() -> list[str]:
    return re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE)


def test_every_call_row_carries_the_documented_record(batch_run: BatchRun) -> None:
    rows = {str(row["id"]): row for row in batch_run.rows}
    assert len(rows) == ROWS + 3
    fields = documented_fields()
    assert "cost_usd" in fields and "retry_after_s" in fields
    for key, row in rows.items():
        if row.get("error", {}).get("type") == "BadInput":  # it made no call
            assert "record" not in row and key.startswith("auto-")
            continue
        record = row["record"]
        assert list(record) == fields, key
        assert record["v"] == RECORD_VERSION and record["source"] == "batch"
        assert record["ts"] > 1e9 and record["latency_ms"] >= 0
    ok = [row["record"] for row in rows.values() if row.get("ok") is not False]
    assert all(r["status"] == "ok" and r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in ok)
    priced = [r for r in ok if r["model"] in ("openai/gpt-4o", "openai/gpt-4o-mini")]
    assert len(priced) == ROWS - 1  # one of them got the 400
    assert all(r["cost_usd"] > 0 and r["cost_source"] == "genai-prices" for r in priced)
    mini = next(r for r in priced if r["model"] == "openai/gpt-4o-mini")
    expected = call_cost("openai/gpt-4o-mini", mini["tokens_in"], mini["tokens_out"])
    assert expected is not None and math.isclose(mini["cost_usd"], expected.usd)
    assert rows["q900"]["record"]["cost_usd"] is None  # unknown, not 0
    limited = [r for r in ok if r["rate_limited"]]
    assert sum(r["rate_limited"] for r in limited) == 2
    assert all(r["retries"] >= 1 and r["retry_after_s"] == 0.1 for r in limited)
    assert all(r["retry_wait_s"] > 0 for r in limited)
    (refused,) = [row for row in rows.values() if row.get("ok") is False and "record" in row]
    assert refused["record"]["status"] == refused["error"]["type"] == "BadRequestError"
    assert refused["record"]["cost_usd"] == 0 and refused["record"]["cost_source"] == "no tokens"


def test_an_old_row_without_a_record_gets_one_derived(batch_run: BatchRun) -> None:
    row = next(r for r in batch_run.rows if r.get("record", {}).get("rate_limited"))
    derived = record_of({k: v for k, v in row.items() if k != "record"})
    assert derived is not None
    same = ("model", "deployment", "status", "tokens_in", "tokens_out", "retries", "cost_usd")
    for name in same:
        assert derived[name] == row["record"][name], name


def test_the_proxy_usage_log_carries_the_same_record(tmp_path: Path) -> None:
    import uvicorn

    from scillm.proxy.app import Gateway, create_app
    from scillm.proxy.config import parse_config
    from scillm.service import ServiceConfig, bind

    log = tmp_path / "usage.jsonl"
    with MockLLMServer(model="gpt-4o-mini") as upstream:
        params = {"model": "openai/gpt-4o-mini", "api_base": upstream.base_url, "api_key": "u"}
        config = {"model_list": [{"model_name": "fast", "litellm_params": params}]}
        gateway = Gateway(parse_config(config), str(log))
        app = create_app(gateway, ServiceConfig(host="127.0.0.1"))
        sock = bind("127.0.0.1", 0)
        server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                threading.Event().wait(0.01)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
            body = {"model": "fast", "messages": [{"role": "user", "content": "hello there"}]}
            assert httpx.post(url, json=body, timeout=30).status_code == 200
            assert httpx.post(url, json={**body, "messages": []}, timeout=30).status_code == 400
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            gateway.close()
    ok, bad = read_jsonl(log)
    assert list(ok["record"]) == documented_fields()
    assert ok["record"]["source"] == "proxy" and ok["record"]["http_status"] == 200
    assert ok["record"]["deployment"] == "fast#0" and ok["record"]["tokens_in"] > 0
    assert ok["record"]["cost_usd"] > 0 and ok["record"]["cost_source"] == "genai-prices"
    assert bad["record"]["status"] != "ok" and bad["record"]["http_status"] == 400
    summary = load_run(log).summary()
    assert (summary["calls"], summary["failed_rows"], summary["cost_usd"] > 0) == (2, 1, True)


def test_unknown_prices_are_never_zero() -> None:
    assert call_cost(UNPRICED_MODEL, 1000, 100) is None
    assert call_cost(None, 1000, 100) is None
    record = build_record(source="batch", meta=None, usage={"prompt_tokens": 5,
                          "completion_tokens": 5}, model=UNPRICED_MODEL)  # fmt: skip
    assert record["cost_usd"] is None and record["cost_source"] is None
    meter = CostMeter()
    meter.add(None, UNPRICED_MODEL)
    assert meter.describe().startswith("unknown")
    meter.add(0.5)
    assert meter.describe() == "$0.5000 + 1 calls of unknown price"


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc"])
def test_max_cost_refuses_what_is_no_budget(value: str, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [question(1)])
    done = scillm("batch", str(source), "-o", str(tmp_path / "o.jsonl"), "-m", "openai/gpt-4o",
                  "--max-cost", value)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--max-cost" in done.stderr and "Traceback" not in done.stderr


def test_max_cost_stops_cleanly_then_the_run_resumes(tmp_path: Path) -> None:
    rows = [question(i, model="openai/gpt-4o") for i in range(40)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    per_call = call_cost("openai/gpt-4o", 11, 11)
    assert per_call is not None
    budget = 4.5 * per_call.usd
    args = ["batch", str(source), "-o", str(output), "-m", "openai/gpt-4o", "-c", "2",
            "--no-progress"]  # fmt: skip
    with MockLLMServer(latency_s=0.02) as server:
        done = scillm(*args, "--max-cost", f"{budget:.10f}", env=mock_env(server))
        assert done.returncode == 1, done.stderr
        assert "stopped" in done.stderr and "budget" in done.stderr
        first = read_jsonl(output)
        assert 4 <= len(first) < len(rows)  # the calls in flight finished and were written
        assert all(row.get("ok") is not False for row in first)
        assert sum(row["record"]["cost_usd"] for row in first) >= budget
        again = scillm(*args, "--json", env=mock_env(server))
    assert again.returncode == 0, again.stderr
    assert f'"skipped":{len(first)}' in again.stdout and '"stopped":null' in again.stdout
    ids = [row["id"] for row in read_jsonl(output)]
    assert sorted(ids) == sorted(row["id"] for row in rows)


def test_max_cost_stops_at_a_price_it_cannot_count(tmp_path: Path) -> None:
    rows = [question(i, model=UNPRICED_MODEL) for i in range(20)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    with MockLLMServer() as server:
        done = scillm("batch", str(source), "-o", str(output), "-m", UNPRICED_MODEL, "-c", "1",
                      "--no-progress", "--max-cost", "10", env=mock_env(server))  # fmt: skip
    assert done.returncode == 1
    assert "unknown" in done.stderr and UNPRICED_MODEL in done.stderr
    assert len(read_jsonl(output)) == 1
