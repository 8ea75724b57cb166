"""The table of known critical prover bugs, and the verdicts that carry it."""

from __future__ import annotations

import pytest

from scillm.certainly import check
from scillm.certainly.known_bugs import CRITICAL_BUGS, KnownBug, bugs_for

GUARD_BUGS = {"rocq#20413", "rocq#20455"}


def test_coq_8_16_1_has_the_guard_checker_bugs_and_newer_releases_do_not() -> None:
    assert {bug.id for bug in bugs_for("coq", "8.16.1")} >= GUARD_BUGS
    assert not GUARD_BUGS & {bug.id for bug in bugs_for("coq", "9.0.1")}
    # Still unfixed everywhere: listed for every release since they appeared.
    assert "rocq#16891" in {bug.id for bug in bugs_for("coq", "9.3.0")}
    assert bugs_for("coq", "8.15.2") and not GUARD_BUGS & {b.id for b in bugs_for("coq", "8.15")}


def test_versions_compare_as_numbers_and_unknown_versions_list_nothing() -> None:
    assert "rocq#21839" in {bug.id for bug in bugs_for("coq", "9.2.0")}
    assert "rocq#21839" not in {bug.id for bug in bugs_for("coq", "9.10.0")}
    assert {bug.id for bug in bugs_for("lean4", "v4.21.0-rc2")} >= {"lean4#14806"}
    assert bugs_for("lean4", "4.34.0") == () and bugs_for("coq", None) == ()
    assert bugs_for("coq", "dev") == ()


@pytest.mark.parametrize("bug", CRITICAL_BUGS, ids=lambda bug: bug.id)
def test_every_entry_is_sourced_and_consistent(bug: KnownBug) -> None:
    data = bug.to_dict()
    assert data["source"].startswith("https://github.com/") and data["title"]
    assert bug.affects(bug.affected_from)
    assert bug.fixed_in is None or not bug.affects(bug.fixed_in)


@pytest.mark.requires("coqc", apt="coq")
def test_every_coq_verdict_names_the_prover_its_version_and_its_bugs() -> None:
    items = [
        {"id": "t", "backend": "coq", "code": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."},
        {"id": "f", "backend": "coq", "code": "Theorem t : 1 = 2. Proof. Admitted."},
    ]
    for verdict in check(items):
        assert verdict.prover == "Coq" and verdict.backend_version
        assert verdict.known_bugs == bugs_for("coq", verdict.backend_version)
        if verdict.backend_version.startswith("8.16"):
            assert {bug.id for bug in verdict.known_bugs} >= GUARD_BUGS
