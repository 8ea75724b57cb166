"""``scillm doctor`` on a machine without coqc: the whole doctor, with PATH holding only the
sandbox's and node's tools, says NOT READY for that reason alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ops_helpers import checks_of, clean_env, json_out, run

pytestmark = [
    pytest.mark.requires("bwrap", apt="bubblewrap"),
    pytest.mark.requires("node", apt="nodejs"),
]


def test_doctor_without_coqc_is_not_ready(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bwrap", "node"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    out = tmp_path / "report"
    done = run(["doctor", "--json", "--out", str(out)], clean_env(PATH=str(tools)))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json_out(done)
    checks = checks_of(report)
    assert report["ready"] is False
    coqc = checks["coqc"]
    assert not coqc["ok"] and not coqc["skipped"] and coqc["required"]
    assert "'coqc' not found" in coqc["details"] and "apt-get install coq" in coqc["details"]
    for name in ("sandbox", "node", "embedded"):  # the rest of the machine is fine
        assert checks[name]["ok"], checks[name]
    assert checks["lean"]["skipped"] and checks["codex-cli"]["skipped"]
    assert "**Summary**: NOT READY" in (out / "PROJECT_READY.md").read_text()
    assert "| coqc | FAILED | yes |" in (out / "PROJECT_READY.md").read_text()
