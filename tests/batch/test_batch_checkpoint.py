"""JsonlCheckpoint: whole lines, torn-tail repair, ids as strings, several writers at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scillm.batch import JsonlCheckpoint


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_append_iterate_and_processed_ids(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"  # parent folders are created
    with JsonlCheckpoint(path) as cp:
        cp.append({"id": 1, "out": "é"})
        cp.append({"id": "b", "ok": False, "error": {"type": "X", "message": "m"}}, flush=False)
        cp.extend([{"id": 3, "out": None}, {"no_id": True}])
        cp.sync()
        assert [row.get("id") for row in cp] == [1, "b", 3, None]
        assert cp.processed_ids() == {"1", "b", "3"}
        assert cp.failed_ids() == {"b"}
    assert json.loads(lines(path)[0]) == {"id": 1, "out": "é"}


def test_ids_compare_as_strings(tmp_path: Path) -> None:
    with JsonlCheckpoint(tmp_path / "r.jsonl") as cp:
        cp.append({"id": 7, "out": 1})
        cp.append({"id": "7", "out": 2})
        cp.append({"id": True, "out": 3})  # not an id: neither a string nor an integer
        cp.append({"id": 1.5, "out": 4})
        assert cp.processed_ids() == {"7"}


def test_failed_ids_follow_the_latest_row(tmp_path: Path) -> None:
    with JsonlCheckpoint(tmp_path / "r.jsonl") as cp:
        cp.append({"id": "a", "ok": False, "error": {}})
        cp.append({"id": "a", "out": "retried"})
        cp.append({"id": "b", "out": "x"})
        cp.append({"id": "b", "ok": False, "error": {}})
        assert cp.failed_ids() == {"b"}


def test_malformed_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 1}\nnot json\n[1, 2]\n\n{"id": 2}\n', encoding="utf-8")
    with JsonlCheckpoint(path) as cp:
        assert cp.processed_ids() == {"1", "2"}
        assert cp.repaired_bytes == 0


def test_a_torn_last_line_is_cut_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1, "out": "a"}\n{"id": 2, "out": "tor')
    with JsonlCheckpoint(path) as cp:
        assert cp.repaired_bytes == len(b'{"id": 2, "out": "tor')
        assert cp.processed_ids() == {"1"}
        cp.append({"id": 2, "out": "b"})
    assert [json.loads(x)["id"] for x in lines(path)] == [1, 2]


def test_a_whole_last_row_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}')
    with JsonlCheckpoint(path) as cp:
        assert cp.repaired_bytes == 0
        cp.append({"id": 3})
        assert cp.processed_ids() == {"1", "2", "3"}


def test_a_tail_torn_by_another_writer_is_repaired_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with JsonlCheckpoint(path) as cp:
        cp.append({"id": 1})
        with open(path, "ab") as other:  # a writer that died mid-line
            other.write(b'{"id": 2, "out": "half')
        cp.append({"id": 3})
        assert cp.repaired_bytes > 0
    assert [json.loads(x)["id"] for x in lines(path)] == [1, 3]


def test_a_torn_line_without_any_newline_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1, "o')
    with JsonlCheckpoint(path) as cp:
        assert cp.processed_ids() == set()
    assert path.read_bytes() == b""


def test_threads_sharing_one_checkpoint_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with JsonlCheckpoint(path) as cp:

        def writer(t: int) -> None:
            for i in range(200):
                cp.append({"id": f"{t}-{i}", "pad": "x" * (i * 37 % 5000)}, flush=False)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(cp.processed_ids()) == 800
    assert len(lines(path)) == 800


WRITER = """
import sys
from scillm.batch import JsonlCheckpoint
cp = JsonlCheckpoint(sys.argv[1])
for i in range(300):
    cp.append({"id": f"{sys.argv[2]}-{i}", "pad": "y" * (i * 997 % 20000)}, flush=False)
cp.sync()
"""


def test_processes_appending_to_one_file_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(p)]) for p in range(4)]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0, 0, 0]
    rows = [json.loads(x) for x in lines(path)]  # every line parses: no interleaving
    assert len(rows) == 1200
    assert len({row["id"] for row in rows}) == 1200


def test_an_unwritable_path_fails_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        JsonlCheckpoint(blocker / "r.jsonl")
    with pytest.raises(OSError):
        JsonlCheckpoint(tmp_path)  # a directory
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        JsonlCheckpoint(fifo)  # it could never be read back


def test_closed_checkpoint_refuses_writes(tmp_path: Path) -> None:
    cp = JsonlCheckpoint(tmp_path / "r.jsonl")
    cp.close()
    cp.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        cp.append({"id": 1})


def test_unserializable_row_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with JsonlCheckpoint(path) as cp:
        with pytest.raises(TypeError):
            cp.append({"id": 1, "out": object()})
        cp.append({"id": 2})
    assert lines(path) == ['{"id":2}']


def test_summary_is_written_atomically_beside_the_results(tmp_path: Path) -> None:
    with JsonlCheckpoint(tmp_path / "r.jsonl") as cp:
        assert cp.summary_path == str(tmp_path / "summary.json")
        cp.write_summary({"processed": 3})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"processed": 3}
    custom = JsonlCheckpoint(tmp_path / "r.jsonl", summary_path=tmp_path / "s.json")
    assert custom.summary_path == str(tmp_path / "s.json")
    custom.close()
