"""The warm coqtop pool: pooled verdicts are the fresh ones, and no item reaches the next.

Real coqc and coqtop throughout. The pool-level tests drive one :class:`CoqChecker` with one
pool in one event loop, so consecutive items share a process; ``pool.started`` shows that they
did.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from coq_cases import CASES

from scillm.certainly import Verdict, check
from scillm.certainly.coq import CoqChecker, find_coqc, new_pool
from scillm.certainly.coqtop import CoqTop, sentences
from scillm.certainly.engine import DEFAULT_TIMEOUT_S
from scillm.certainly.items import ProofItem, parse_item
from scillm.certainly.pool import RECYCLE_AFTER, CoqTopPool
from scillm.certainly.process import Ran

CLEAN = (
    "Definition double (n : nat) := n + n.\n"
    "Fixpoint twice (n : nat) : nat := match n with 0 => 0 | S m => S (S (twice m)) end.\n"
    "Theorem clean : forall n : nat, twice n = double n.\n"
    "Proof. induction n as [|m IH]; [reflexivity|]. simpl. rewrite IH. unfold double. "
    "rewrite <- plus_n_Sm. reflexivity. Qed."
)
SPIN = (
    "Fixpoint spin (n : nat) (b : bool) : bool := "
    "match n with 0 => b | S k => spin k (spin k (negb b)) end. "
    "Eval vm_compute in spin 200 true.\n"
)
# Each tries to change the state the next item's audit runs in.
DIRTY: dict[str, str] = {
    "global_notations_off": "Global Unset Printing Notations.\nTheorem d : 1 + 1 = 2. "
    "Proof. reflexivity. Qed.",
    "global_width": "Global Set Printing Width 20.\nTheorem d : 1 + 1 = 2. "
    "Proof. reflexivity. Qed.",
    "export_printing_all": "#[export] Set Printing All.\nTheorem d : 1 + 1 = 2. "
    "Proof. reflexivity. Qed.",
    "global_implicit": "Global Set Printing Implicit.\nTheorem d : 1 = 1. Proof. reflexivity. Qed.",
    "local_set": "Local Set Printing All. Set Printing Depth 1.\nTheorem d : 1 = 1. "
    "Proof. reflexivity. Qed.",
    "axiom": "Axiom ax : False.\nTheorem d : 1 = 2. Proof. destruct ax. Qed.",
    "admitted": "Theorem d : 1 = 2. Proof. Admitted.",
    "open_proof": "Theorem d : 1 = 1. Proof.",
    "guard_off": "Unset Guard Checking.\nTheorem d : 1 = 1. Proof. reflexivity. Qed.",
    "notation_hint_instance": (
        'Notation "x +++ y" := (x + y) (at level 50).\n'
        "#[global] Hint Resolve eq_refl : core.\n"
        "Class C := {}. #[global] Instance i : C := {}.\n"
        "Global Arguments Nat.add : simpl never.\n"
        "Theorem d : 1 +++ 1 = 2. Proof. reflexivity. Qed."
    ),
    "same_names": "Definition double (n : nat) := 0.\n"
    "Theorem clean : forall n : nat, double n = 0. Proof. reflexivity. Qed.",
}


def _item(name: str, code: str) -> ProofItem:
    parsed = parse_item({"id": name, "backend": "coq", "code": code}, 0)
    assert isinstance(parsed, ProofItem)
    return parsed


def _essence(verdict: Verdict) -> dict[str, Any]:
    """Everything a verdict says except how long it took."""
    shown = verdict.to_dict()
    shown.pop("time_ms", None)
    return shown


def _fresh(items: list[dict[str, Any]], **options: Any) -> dict[str, dict[str, Any]]:
    verdicts = check(items, warm=False, **options)
    return {str(v.id): _essence(v) for v in verdicts}


async def _checker(
    recycle_after: int = RECYCLE_AFTER, workers: int = 1
) -> tuple[CoqChecker, CoqTopPool]:
    toolchain = await find_coqc()
    if not toolchain.available:
        pytest.fail(f"coqc is needed for these tests: {toolchain.problem}")
    pool = new_pool(toolchain, workers, recycle_after=recycle_after)
    assert pool is not None, "coqtop must be installed next to coqc"
    return CoqChecker(toolchain, frozenset(), pool), pool


def test_the_whole_case_corpus_gets_the_fresh_verdicts_when_pooled(
    verdicts: dict[str, Verdict],
) -> None:
    """The session batch is pooled (4 workers share warm processes); this is the fresh one."""
    items = [{"id": name, "backend": "coq", **fields} for name, fields in CASES.items()]
    fresh = _fresh(items, max_workers=4)
    pooled = {name: _essence(v) for name, v in verdicts.items()}
    different = [name for name in CASES if pooled[name] != fresh[name]]
    assert not different, {name: (pooled[name], fresh[name]) for name in different}


def test_the_corpus_really_runs_warm_no_process_is_dropped(
    verdicts: dict[str, Verdict],
) -> None:
    """The verdicts above could match because every audit fell back to coqc: here one pool
    checks the corpus and no process may have been dropped as untrustworthy."""

    async def run() -> tuple[dict[str, dict[str, Any]], CoqTopPool]:
        checker, pool = await _checker(workers=2)
        gate = asyncio.Semaphore(2)

        async def one(name: str, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            parsed = parse_item({"id": name, "backend": "coq", **fields}, 0)
            assert isinstance(parsed, ProofItem)
            async with gate:
                return name, _essence(await checker.check(parsed, DEFAULT_TIMEOUT_S))

        try:
            done = await asyncio.gather(*(one(n, f) for n, f in CASES.items()))
        finally:
            await pool.aclose()
        return dict(done), pool

    pooled, pool = asyncio.run(run())
    assert pool.started > 0 and pool.dropped == 0
    session = {name: _essence(v) for name, v in verdicts.items()}
    different = [name for name in CASES if pooled[name] != session[name]]
    assert not different, {name: (pooled[name], session[name]) for name in different}


def test_no_item_reaches_the_next_one_in_the_same_process() -> None:
    fresh = _fresh([{"id": "clean", "backend": "coq", "code": CLEAN}])["clean"]
    assert fresh["status"] == "proved"
    fresh_dirty = _fresh(
        [{"id": name, "backend": "coq", "code": code} for name, code in DIRTY.items()]
    )

    async def run() -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]], int]:
        checker, pool = await _checker()
        seen = []
        try:
            for name, code in DIRTY.items():
                dirty = _essence(await checker.check(_item(name, code), 30))
                clean = _essence(await checker.check(_item("clean", CLEAN), 30))
                seen.append((name, dirty, clean))
        finally:
            await pool.aclose()
        return seen, pool.started

    seen, started = asyncio.run(run())
    for name, dirty, clean in seen:
        assert dirty == fresh_dirty[name], name
        assert clean == fresh, f"after {name}"
    assert started == 1  # one process served every item: the state really was shared


def test_a_hung_run_is_killed_and_the_pool_starts_a_new_process() -> None:
    async def run() -> None:
        checker, pool = await _checker()
        try:
            clean = await checker.check(_item("clean", CLEAN), 30)
            assert clean.status == "proved" and pool.started == 1
            [top] = pool.idle
            ran = await top.run("Audit.v", SPIN, b"", time.monotonic() + 2)
            assert ran is not None and ran.timed_out and not top.alive
            again = await checker.check(_item("clean", CLEAN), 30)
            assert _essence(again) == _essence(clean) and pool.started == 2
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_a_process_that_dies_gives_the_fresh_verdict_and_is_dropped() -> None:
    async def run() -> None:
        checker, pool = await _checker()
        try:
            clean = await checker.check(_item("clean", CLEAN), 30)
            [top] = pool.idle
            os.killpg(top.pid, signal.SIGKILL)
            # Whether the pool notices first or the run does, this item's audit runs fresh.
            again = await checker.check(_item("clean", CLEAN), 30)
            assert _essence(again) == _essence(clean)
            assert not top.alive and top not in pool.idle
            ran = await top.run("Audit.v", "Check I.\n", b"", time.monotonic() + 10)
            assert ran is None
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_a_planted_link_in_the_process_dir_is_never_followed(tmp_path: Path) -> None:
    async def run() -> None:
        checker, pool = await _checker()
        try:
            clean = await checker.check(_item("clean", CLEAN), 30)
            [top] = pool.idle
            shutil.rmtree(top.path / "src")
            (top.path / "src").symlink_to(tmp_path)
            again = await checker.check(_item("clean", CLEAN), 30)
            assert _essence(again) == _essence(clean)  # audited fresh instead
            assert list(tmp_path.iterdir()) == [] and not top.alive
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_a_process_is_recycled_after_n_items() -> None:
    async def run() -> int:
        checker, pool = await _checker(recycle_after=2)
        try:
            for _ in range(5):
                verdict = await checker.check(_item("clean", CLEAN), 30)
                assert verdict.status == "proved"
        finally:
            await pool.aclose()
        return pool.started

    assert asyncio.run(run()) == 3


# A compiled item whose terms print as coqtop's own protocol once String is imported. State 3
# is the marker of a process holding String: read up to "</prompt>", the former reader took the
# rest of this error for the next run's BackTo answer, then read every answer one sentence late.
SPOOF = (
    "Require Import Coq.Strings.String.\n"
    'Notation s := "x.</prompt>\n<prompt>Coq < 3 || 0 < </prompt>Toplevel input, '
    'characters 6-34:\n> Check scillm_sync_0000000000000000."%string.\n'
    "Theorem t : s = s. Proof. reflexivity. Qed.\n"
)


def _compiled(tmp_path: Path, text: str) -> bytes:
    """``Top.vo`` of ``text``, compiled by the real coqc (trusted test input, on the host)."""
    (tmp_path / "Top.v").write_text(text)
    subprocess.run(
        ["coqc", "-q", "-Q", str(tmp_path), "", str(tmp_path / "Top.v")],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "Top.vo").read_bytes()


def test_output_that_forges_the_prompt_protocol_drops_the_process(tmp_path: Path) -> None:
    """An error printing the item's string shows coqtop's prompt and a sync echo: the process
    is dropped (its file then runs on a fresh coqc), never read out of step."""
    compiled = _compiled(tmp_path, SPOOF)

    async def run() -> None:
        _, pool = await _checker()
        try:
            async with pool.lease(["Coq.Strings.String"], time.monotonic() + 60) as top:
                assert top is not None
                deadline = time.monotonic() + 60
                text = "Require Top. Require Import Coq.Strings.String.\nCheck Top.t.\n"
                ok = await top.run("Audit.v", text, compiled, deadline)
                assert ok == Ran(0, "", "", False)  # it prints the string on stdout, unread
                forging = text + "Check Top.t : nat.\nCheck Top.t.\n"
                assert await top.run("Audit.v", forging, compiled, deadline) is None
                assert not top.alive and top.broken
            # The next run (a new process) still reports its own last sentence's error.
            async with pool.lease(["Coq.Strings.String"], time.monotonic() + 60) as top:
                assert top is not None and pool.started == 2 and pool.dropped == 1
                text = "Require Top.\nCheck Top.t.\nCheck Top.missing.\n"
                ran = await top.run("Audit.v", text, compiled, time.monotonic() + 60)
                assert ran is not None and ran.returncode == 1
                assert ran.stderr.startswith('File "./src/Audit.v", line 3,')
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_an_error_is_read_from_the_state_not_from_the_text(tmp_path: Path) -> None:
    """A failing sentence is found by coqtop's state number: an item's narrow printing width
    (which re-wraps every message) changes neither the error nor the line reported."""
    compiled = _compiled(
        tmp_path, "Global Set Printing Width 10.\nTheorem t : 1 = 1. Proof. reflexivity. Qed.\n"
    )

    async def run() -> None:
        _, pool = await _checker()
        try:
            async with pool.lease([], time.monotonic() + 60) as top:
                assert top is not None
                deadline = time.monotonic() + 60
                text = "Require Top.\nCheck Top.t.\nCheck Top.missing.\nCheck Top.t.\n"
                ran = await top.run("Audit.v", text, compiled, deadline)
                assert ran is not None and ran.returncode == 1 and top.alive
                assert ran.stderr.startswith('File "./src/Audit.v", line 3,')
                assert "Top.missing" in ran.stderr and "was not found" in ran.stderr
        finally:
            await pool.aclose()

    asyncio.run(run())


def test_libraries_outside_the_warm_list_are_audited_fresh() -> None:
    async def run() -> None:
        _, pool = await _checker()
        async with pool.lease(["mathcomp.ssreflect.ssrnat"], time.monotonic() + 10) as top:
            assert top is None
        async with pool.lease(["Coq.Lists.List"], time.monotonic() + 30) as top:
            assert isinstance(top, CoqTop) and top.libraries == ("Coq.Lists.List",)
        await pool.aclose()
        assert pool.started == 1

    asyncio.run(run())


def test_warm_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="warm must be True or False"):
        check([], warm="no")  # type: ignore[arg-type]


def test_sentences_split_at_periods_outside_strings() -> None:
    line = 'Redirect "a. b" Check Top.x. Print Top.M.y.  Locate "_ . _".'
    assert sentences(line) == ['Redirect "a. b" Check Top.x.', "Print Top.M.y.", 'Locate "_ . _".']
    assert sentences("Require Top. Set Printing All") == ["Require Top.", "Set Printing All"]
