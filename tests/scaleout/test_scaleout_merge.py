"""Part files and the merge (no Ray): torn lines, success beats error, exactly-once output."""

from __future__ import annotations

import json
from pathlib import Path

from scillm.batch.cluster.parts import (
    SentLog,
    finished_ids,
    merge,
    merge_leftovers,
    parts_root,
    resent_calls,
    scan_rows,
    sent_path,
    unanswered_ids,
)
from scillm.batch.cluster.shards import plan_shards, read_shard


def _write(path: Path, *rows: dict[str, object], tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + tail)
    return path


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_success_beats_error_and_the_output_has_each_id_once(tmp_path: Path) -> None:
    out = _write(tmp_path / "out.jsonl", {"id": "a", "ok": False, "error": {}}, {"id": "b"})
    run = parts_root(out) / "r1"
    _write(run / "shard-000000.x.jsonl", {"id": "a", "response": 1}, {"id": "c", "ok": False})
    _write(run / "shard-000001.y.jsonl", {"id": "b", "ok": False}, {"id": "c", "response": 3})
    _write(run / "shard-000001.z.jsonl", {"id": "c", "ok": False}, tail=b'{"id": "d", "res')
    result = merge(out, run)
    rows = {r["id"]: r for r in _rows(out)}
    assert len(_rows(out)) == len(rows) == 3  # the torn "d" line is not a finished row
    assert rows["a"] == {"id": "a", "response": 1}
    assert rows["b"] == {"id": "b"}  # an error never replaces a success
    assert rows["c"] == {"id": "c", "response": 3}
    assert (result.succeeded, result.failed) == (2, 0)
    assert (result.dropped, result.repeats) == (4, 2)  # "c" came in three parts
    assert not run.exists()


def test_a_later_error_replaces_an_earlier_error(tmp_path: Path) -> None:
    out = _write(tmp_path / "out.jsonl", {"id": "a", "ok": False, "error": {"type": "old"}})
    run = parts_root(out) / "r1"
    _write(run / "shard-000000.x.jsonl", {"id": "a", "ok": False, "error": {"type": "new"}})
    assert merge(out, run).failed == 1
    assert _rows(out) == [{"id": "a", "ok": False, "error": {"type": "new"}}]


def test_leftover_runs_merge_into_a_missing_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    for run, key in (("r1", "a"), ("r2", "b")):
        _write(parts_root(out) / run / "shard-000000.x.jsonl", {"id": key})
    assert merge_leftovers(out).succeeded == 2
    assert sorted(r["id"] for r in _rows(out)) == ["a", "b"]
    assert list(parts_root(out).iterdir()) == []


def test_finished_ids_ignore_torn_lines_and_honour_retry_failed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "shard-000002.x.jsonl", {"id": 1}, {"id": "e", "ok": False}, tail=b'{"id": "t"')
    _write(run / "shard-000003.x.jsonl", {"id": "other"})
    assert finished_ids(run, 2, retry_failed=False) == {"1", "e"}
    assert finished_ids(run, 2, retry_failed=True) == {"1"}
    assert list(scan_rows(tmp_path / "missing.jsonl")) == []


def _sent(part: Path, *keys: str) -> None:
    log = SentLog(sent_path(part))
    for key in keys:
        log.mark(key)
    log.close()
    log.close()  # idempotent


def test_a_row_sent_by_two_attempts_of_its_shard_counts_as_resent(tmp_path: Path) -> None:
    run = tmp_path / "run"
    dead = _write(run / "shard-000000.a.jsonl", {"id": "x"})  # died with "y" and "z" in flight
    _sent(dead, "x", "y", "z")
    again = _write(run / "shard-000000.b.jsonl", {"id": "y"}, {"id": "z"}, {"id": "w"})
    _sent(again, "y", "z", "w")
    other = _write(run / "shard-000001.c.jsonl", {"id": "y"})  # a duplicate id in another shard
    _sent(other, "y")
    assert resent_calls(run) == 2
    assert resent_calls(tmp_path / "empty") == 0


def test_unanswered_ids_are_those_a_killed_run_sent_but_never_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    part = _write(parts_root(out) / "r1" / "shard-000000.a.jsonl", {"id": "x"})
    _sent(part, "x", "y")
    sent_path(part).write_bytes(sent_path(part).read_bytes() + b'"tor')  # a torn last line
    assert unanswered_ids(out) == {"y"}
    assert unanswered_ids(tmp_path / "never.jsonl") == set()


def test_shards_cover_every_line_once(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": i, "prompt": f"p{i}"}) for i in range(23)]
    lines.insert(5, "")  # blank lines count for line numbers, not rows
    src.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())  # BOM, no final newline
    shards, rows = plan_shards(src, 5)
    assert rows == 23 and len(shards) == 5
    jobs = [job for shard in shards for job in read_shard(src, shard)]
    assert [job.id for job in jobs] == list(range(23))
    assert all(job.problem is None for job in jobs)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "prompt": "x"}\n\nnot json\n')
    (shard,) = plan_shards(bad, 5)[0]
    (ok, broken) = list(read_shard(bad, shard))
    assert ok.problem is None and broken.problem is not None and "line 3" in broken.problem
