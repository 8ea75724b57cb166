"""``run_provider_batch``: rows through the mock server's Files + Batches APIs into the online
mode's output format, split by count, bytes and model, with failures, expiry, schema checks,
Retry-After and resumption (in-process; the command-line and kill tests are in
``test_provider_batch_cli``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import batch_env, read_jsonl, run_batch_command, write_jsonl

from scillm.batch.command import BatchOptions, InputError
from scillm.batch.provider_batch import ProviderBatchSettings, run_provider_batch
from scillm.batch.provider_batch_api import BatchApi, checked_id
from scillm.batch.provider_batch_merge import BATCH_PRICE
from scillm.batch.provider_batch_state import BatchState, Submitted, state_folder
from scillm.cost import call_cost
from scillm.errors import APIError
from scillm.report import load_run
from scillm.testing import MockLLMServer

FAST = ProviderBatchSettings(poll_s=0.05)


KEY = "sk-test-never-on-disk"


def options(srv: MockLLMServer, rows_in: Path, rows_out: Path, **extra: Any) -> BatchOptions:
    return BatchOptions(
        rows_in, rows_out, model="openai/mock", api_base=srv.base_url, api_key=KEY, **extra
    )


def by_id(path: Path) -> dict[Any, dict[str, Any]]:
    rows = read_jsonl(path)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"an id written twice: {ids}"
    return {row["id"]: row for row in rows}


def uploaded(srv: MockLLMServer, batch_id: str) -> list[dict[str, Any]]:
    """The request lines of a created batch."""
    return srv.batches.request_lines(batch_id)


def test_rows_go_through_batches_in_the_online_format(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path, tmp_path: Path
) -> None:
    write_jsonl(rows_in, [{"id": i, "prompt": f"say {i}", "max_tokens": 5} for i in range(7)])
    settings = ProviderBatchSettings(batch_size=3, poll_s=0.05)
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), settings)
    assert (summary.succeeded, summary.failed, summary.total) == (7, 0, 7)
    assert len(mock_llm.batches.created) == 3  # 3 + 3 + 1
    first = uploaded(mock_llm, mock_llm.batches.created[0])
    assert [line["custom_id"] for line in first] == ["0", "1", "2"]
    body = first[0]["body"]  # what an online call sends: model without prefix, params kept
    assert body == {
        "model": "mock",
        "messages": [{"role": "user", "content": "say 0"}],
        "max_tokens": 5,
    }
    assert not any(r.path.endswith("/chat/completions") for r in mock_llm.requests)

    out = by_id(rows_out)
    assert sorted(out) == list(range(7))
    row = out[4]
    assert row["response"]["choices"][0]["message"]["content"] == "say 4"
    meta = row["scillm_router"]
    assert meta["error_type"] == "ok" and meta["provider"] == "openai"
    assert meta["provider_batch"]["batch_id"] == mock_llm.batches.created[1]

    # The same rows online: the same row shape, the same keys of meta (plus provider_batch).
    online = tmp_path / "online.jsonl"
    done = run_batch_command(
        [str(rows_in), "-o", str(online), "-m", "openai/mock", "--no-progress"],
        batch_env(mock_llm.base_url),
    )
    assert done.returncode == 0, done.stderr
    online_row = by_id(online)[4]
    assert set(online_row) == set(row)
    assert set(online_row["scillm_router"]) | {"provider_batch"} == set(meta)
    assert online_row["response"]["choices"] == row["response"]["choices"]

    # Everything merged, nothing left to do: a rerun submits nothing.
    state = BatchState.load(state_folder(rows_out))
    assert [b.status for b in state.batches] == ["merged"] * 3
    assert sorted(p.name for p in state.folder.iterdir()) == ["state.json"]
    assert KEY not in (state.folder / "state.json").read_text()
    assert KEY not in rows_out.read_text()
    assert set(mock_llm.batches.authorizations) == {f"Bearer {KEY}"}
    again = run_provider_batch(options(mock_llm, rows_in, rows_out), settings)
    assert (again.skipped, again.processed) == (7, 0)
    assert len(mock_llm.batches.created) == 3


def test_files_split_by_bytes_and_by_model(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    rows = [{"id": f"r{i}", "prompt": "x" * 300} for i in range(6)]
    rows += [{"id": "other", "prompt": "hi", "model": "openai/other-model"}]
    write_jsonl(rows_in, rows)
    settings = ProviderBatchSettings(max_file_bytes=1024, poll_s=0.05)
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), settings)
    assert summary.succeeded == 7
    sizes = [len(data) for data in mock_llm.batches.uploads]
    assert all(size <= 1024 for size in sizes) and len(sizes) >= 4
    models = [
        {line["body"]["model"] for line in uploaded(mock_llm, b)} for b in mock_llm.batches.created
    ]
    assert all(len(m) == 1 for m in models) and {"other-model"} in models
    assert by_id(rows_out)["other"]["response"]["model"] == "other-model"

    # A single request larger than a whole file is an error row, not a broken batch.
    write_jsonl(rows_in, [{"id": "huge", "prompt": "y" * 5000}])
    huge = run_provider_batch(options(mock_llm, rows_in, rows_out), settings)
    assert huge.failed == 1
    assert "request file limit" in by_id(rows_out)["huge"]["error"]["message"]


def test_partial_failures_and_expiry_then_retry_failed(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": i, "prompt": f"n {i}"} for i in range(6)])
    mock_llm.batches.fail_ids = {"1"}
    mock_llm.batches.expire_after = 4  # rows 4 and 5 expire
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert (summary.succeeded, summary.failed) == (3, 3)
    out = by_id(rows_out)
    assert out[1]["ok"] is False and out[1]["error"]["type"] == "ServerError"
    assert out[1]["scillm_router"]["provider_batch"]["status"] == "expired"
    assert {out[i]["error"]["type"] for i in (4, 5)} == {"batch_expired"}
    assert "response" not in out[4]

    # Without --retry-failed the failures are kept; with it they go into a new batch.
    kept = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert (kept.skipped_failed, kept.processed) == (3, 0)
    mock_llm.batches.fail_ids, mock_llm.batches.expire_after = set(), None
    retried = run_provider_batch(options(mock_llm, rows_in, rows_out, retry_failed=True), FAST)
    assert (retried.succeeded, retried.skipped) == (3, 3)
    assert [line["custom_id"] for line in uploaded(mock_llm, mock_llm.batches.created[-1])] == [
        "1",
        "4",
        "5",
    ]
    latest: dict[int, dict[str, Any]] = {}
    for row in read_jsonl(rows_out):
        latest[row["id"]] = row
    assert all("ok" not in row for row in latest.values())


def test_json_schema_is_checked_on_batch_results(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return {"good": '{"answer": 1}', "wrong": '{"answer": "one"}'}.get(text, "no json")

    mock_llm.set_reply(reply)
    schema = rows_in.with_name("schema.json")
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["answer"],
                "properties": {"answer": {"type": "integer"}},
            }
        )
    )
    write_jsonl(rows_in, [{"id": t, "prompt": t} for t in ("good", "wrong", "bad")])
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out, json_schema=schema), FAST)
    assert (summary.succeeded, summary.failed) == (1, 2)
    body = uploaded(mock_llm, mock_llm.batches.created[0])[0]["body"]
    assert body["response_format"]["type"] == "json_schema"  # sent as online mode sends it
    out = by_id(rows_out)
    assert out["good"]["scillm_router"]["schema_valid"] is True and "ok" not in out["good"]
    assert out["wrong"]["error"]["type"] == "schema_invalid"
    assert "answer" in out["wrong"]["error"]["message"]
    assert out["bad"]["error"]["type"] == "invalid_json"
    assert out["bad"]["response"]["choices"][0]["message"]["content"] == "no json"


def test_retry_after_on_file_and_batch_endpoints_is_respected(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": 1, "prompt": "a"}])
    mock_llm.batches.throttle(3, retry_after_s=0.1)
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert summary.succeeded == 1
    assert mock_llm.batches.throttled_served == 3
    assert len(mock_llm.batches.created) == 1  # the 429s did not make a second batch


def test_bad_rows_and_bad_settings(mock_llm: MockLLMServer, rows_in: Path, rows_out: Path) -> None:
    write_jsonl(
        rows_in,
        [
            "not json",
            {"id": "ok", "prompt": "fine"},
            {"id": "t", "prompt": "x", "temperature": "hot"},
        ],
    )
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert (summary.succeeded, summary.failed, summary.bad_input) == (1, 2, 2)
    assert [line["custom_id"] for line in uploaded(mock_llm, mock_llm.batches.created[0])] == ["ok"]
    for bad in (ProviderBatchSettings(batch_size=0), ProviderBatchSettings(poll_s=0)):
        with pytest.raises(InputError):
            run_provider_batch(options(mock_llm, rows_in, rows_out), bad)
    with pytest.raises(InputError, match="--rpm"):
        run_provider_batch(options(mock_llm, rows_in, rows_out, rpm=10), FAST)


def test_ids_from_the_server_must_be_plain_tokens() -> None:
    assert checked_id("batch_abc-1.2:x", "batch", "openai") == "batch_abc-1.2:x"
    for bad in ("../../etc/passwd", "a?b", "a/b", "", None, 7, "x" * 201):
        with pytest.raises(APIError, match="plain token"):
            checked_id(bad, "batch", "openai")


def test_a_damaged_state_file_is_refused(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": 1, "prompt": "a"}])
    folder = state_folder(rows_out)
    folder.mkdir()
    (folder / "state.json").write_text("{not json")
    with pytest.raises(InputError, match="damaged"):
        run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)


def test_a_merge_cut_short_is_not_written_twice(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    """Killed after writing a batch's rows but before recording the merge: the rerun merges
    that batch again and writes none of its rows a second time."""
    write_jsonl(rows_in, [{"id": i, "prompt": f"n {i}"} for i in range(4)])
    run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    before = rows_out.read_bytes()
    state = BatchState.load(state_folder(rows_out))
    entry = state.batches[0]
    entry.request_path(state.folder).write_bytes(mock_llm.batches.uploads[0])
    entry.status = "merging"
    state.save()
    again = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert again.processed == 0 and rows_out.read_bytes() == before
    assert BatchState.load(state_folder(rows_out)).batches[0].status == "merged"
    assert len(mock_llm.batches.created) == 1


def record_uploaded(srv: MockLLMServer, rows_out: Path, rows: int, create: bool) -> None:
    """What a run killed right after uploading (``create``: after creating the batch too,
    before recording its id) leaves behind: a state entry with the file and no batch id."""
    state = BatchState.load(state_folder(rows_out))
    request = state.new_request_file()
    lines = [
        {"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "mock", "messages": [{"role": "user", "content": f"n {i}"}]}}
        for i in range(rows)
    ]  # fmt: skip
    request.write_text("".join(json.dumps(line) + "\n" for line in lines))
    api = BatchApi(srv.base_url, {"Authorization": f"Bearer {KEY}"}, "openai")
    file_id = asyncio.run(api.upload(request))
    if create:
        asyncio.run(api.create(file_id, {}))
    state.base = srv.base_url
    state.batches.append(Submitted(file_id, "mock", rows, 0, rows - 1, request.name))
    state.save()


@pytest.mark.parametrize("created", [False, True], ids=["before-create", "after-create"])
def test_a_run_killed_around_creating_a_batch_resumes_it(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path, created: bool
) -> None:
    """Killed between uploading a request file and recording its batch: the rerun adopts the
    batch the provider made of the file, or creates it; the rows are not uploaded again."""
    write_jsonl(rows_in, [{"id": i, "prompt": f"n {i}"} for i in range(3)])
    # Other batches on the account, newer than the one to find, across list pages.
    record_uploaded(mock_llm, rows_out, 3, create=created)
    for _ in range(3):
        other = rows_out.with_name("other.jsonl")
        record_uploaded(mock_llm, other, 1, create=True)
    summary = run_provider_batch(options(mock_llm, rows_in, rows_out), FAST)
    assert summary.succeeded == 3
    assert len(mock_llm.batches.uploads) == 4  # ours and the 3 others: nothing re-uploaded
    assert len(mock_llm.batches.created) == 4  # ours (made now or adopted) and the 3 others
    assert sorted(by_id(rows_out)) == [0, 1, 2]


def test_find_by_file_pages_through_the_batches(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    api = BatchApi(mock_llm.base_url, {}, "openai")
    request = tmp_path / "chunk-000001.jsonl"
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}  # fmt: skip
    request.write_text(json.dumps(line) + "\n")

    async def main() -> None:
        files = [await api.upload(request) for _ in range(3)]
        made = [await api.create(file_id, {}) for file_id in files]
        api.list_page = 1
        found = await api.find_by_file(files[0])
        assert found is not None and found["id"] == made[0]["id"]  # the third page
        assert await api.find_by_file(files[0], pages=2) is None
        assert await api.find_by_file("file-never-made") is None

    asyncio.run(main())


def test_a_redirect_is_refused_not_followed(tmp_path: Path) -> None:
    """A file/batch endpoint that redirects would carry the key elsewhere: refused."""
    from aiohttp import web

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("http://127.0.0.1:9/v1/elsewhere")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", redirect)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        api = BatchApi(f"http://127.0.0.1:{port}/v1", {"Authorization": f"Bearer {KEY}"}, "x")
        request = tmp_path / "chunk-000001.jsonl"
        request.write_text("{}\n")
        try:
            with pytest.raises(APIError, match="redirected"):
                await api.retrieve("batch_1")
            with pytest.raises(APIError, match="redirected"):
                await api.upload(request)
            with pytest.raises(APIError, match="redirected"):
                await api.download("file_1", tmp_path / "out.jsonl")
            with pytest.raises(APIError, match=r"redirected|HTTP 307"):
                await api.create("file_1", {})
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_rows_carry_run_records_priced_at_the_batch_discount(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": 1, "prompt": "one two three"}])
    opts = BatchOptions(
        rows_in, rows_out, model="openai/gpt-4o-mini", api_base=mock_llm.base_url, api_key=KEY
    )
    run_provider_batch(opts, FAST)
    row = by_id(rows_out)[1]
    record = row["record"]
    usage = row["response"]["usage"]
    online = call_cost("openai/gpt-4o-mini", usage["prompt_tokens"], usage["completion_tokens"])
    assert online is not None and online.usd > 0
    assert record["cost_usd"] == pytest.approx(online.usd * BATCH_PRICE)
    assert record["cost_source"].endswith("batch price x0.5")
    assert (record["source"], record["status"], record["tokens_in"]) == ("batch", "ok", 3)
    assert record["latency_ms"] >= 0  # the batch's time: the report counts the row as a call
    report = load_run(rows_out).summary()
    assert report["calls"] == 1
    assert report["cost_usd"] == pytest.approx(record["cost_usd"], abs=1e-6)
    with pytest.raises(InputError, match="--max-cost"):
        run_provider_batch(BatchOptions(rows_in, rows_out, model="m", max_cost=1.0), FAST)
