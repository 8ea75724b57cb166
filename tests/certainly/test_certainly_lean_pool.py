"""The warm Lean pool against a recorded REPL run as a real, sandboxed process (``lean_replay``).

Every warm verdict is compared with the fresh ``lean`` verdict from the same recording; the
recorded REPL ends its process on any request it does not expect, so a pool that sends an item
from another item's environment (or anything unrecorded) shows up as a fallback to fresh.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lean_replay import axioms, exchange, install, message, sorry

from scillm.certainly import check
from scillm.certainly.items import ProofItem
from scillm.certainly.lean import MEMORY_MB, LeanChecker, find_lean
from scillm.certainly.lean_pool import LeanReplPool, find_repl, split_header
from scillm.certainly.lean_repl import LeanRepl, header_command
from scillm.certainly.verdict import Verdict

TRUE = "theorem t : 1 + 1 = 2 := rfl"
SORRY = "theorem s : 1 = 2 := by\n  sorry"
AXIOM = "axiom bad : 1 = 2\ntheorem b : 1 = 2 := bad"
OPTIONS = "set_option autoImplicit true\nopen Nat\ntheorem o : 0 + 0 = 0 := rfl"
WRONG = "theorem e : 1 = 2 := rfl"
MATHLIB = "import Mathlib.Tactic\ntheorem m (a b : Nat) : a + b = b + a := by omega"

HEADER = exchange("", {}, env=None)
MATHLIB_HEADER = exchange("import Mathlib.Tactic", {}, env=None)
RECORDED = [
    HEADER,
    MATHLIB_HEADER,
    exchange(TRUE + "\n#print axioms t\n", {"messages": [axioms(2, "t")]}),
    exchange(
        SORRY + "\n#print axioms s\n",
        {
            "messages": [
                message(1, "declaration uses 'sorry'", "warning"),
                axioms(3, "s", "sorryAx"),
            ],
            "sorries": [sorry(2)],
        },
    ),
    exchange(AXIOM + "\n#print axioms b\n", {"messages": [axioms(3, "b", "bad")]}),
    exchange(OPTIONS + "\n#print axioms o\n", {"messages": [axioms(4, "o")]}),
    exchange(
        WRONG + "\n#print axioms e\n",
        {
            "messages": [
                message(1, "type mismatch\n  rfl\nhas type\n  1 = 1 : Prop", "error"),
                axioms(2, "e", "sorryAx"),
            ]
        },
    ),
    exchange(
        "\ntheorem m (a b : Nat) : a + b = b + a := by omega\n#print axioms m\n",
        {"messages": [axioms(3, "m", "propext")]},
    ),
]


def item(name: str, code: str) -> ProofItem:
    return ProofItem(id=name, backend="lean4", code=code)


class Setup:
    """A warm checker and a fresh one over the same recording."""

    def __init__(self, lean_path: str, repl_path: str) -> None:
        self.lean_path, self.repl_path = lean_path, repl_path

    async def make(self, **pool: Any) -> tuple[LeanChecker, LeanChecker, LeanReplPool]:
        lean = await find_lean(self.lean_path)
        repl = find_repl(lean, self.repl_path)
        assert repl is not None
        warm_pool = LeanReplPool(repl, MEMORY_MB, **pool)
        return LeanChecker(lean, frozenset(), warm_pool), LeanChecker(lean, frozenset()), warm_pool


def recorded(tmp_path: Path, transcript: list[dict[str, Any]] = RECORDED) -> Setup:
    return Setup(*install(tmp_path, transcript))


def same(verdict: Verdict) -> Verdict:
    return replace(verdict, time_ms=0)


async def test_each_item_runs_from_its_headers_env_and_gets_the_fresh_verdict(
    tmp_path: Path,
) -> None:
    warm, fresh, pool = await recorded(tmp_path).make()
    items = [
        item("options", OPTIONS),  # sets an option and opens a namespace first
        item("axiom", AXIOM),  # declares an axiom
        item("sorry", SORRY),  # leaves a sorry
        item("wrong", WRONG),  # fails to elaborate
        item("true", TRUE),  # must not see any of it
        item("mathlib", MATHLIB),  # another header: another process
        item("true again", TRUE),
    ]
    try:
        verdicts = [await warm.check(i, 30) for i in items]
    finally:
        await pool.aclose()
    assert warm.fallbacks == 0 and pool.started == 2
    by_id = {v.id: v for v in verdicts}
    assert [v.status for v in verdicts] == [
        "proved",
        "failed",
        "failed",
        "failed",
        "proved",
        "proved",
        "proved",
    ]
    assert by_id["axiom"].axioms == ("bad",) and "not in the allow-list" in str(by_id["axiom"])
    assert by_id["sorry"].uses_sorry and by_id["sorry"].axioms == ("sorryAx",)
    assert by_id["mathlib"].axioms == ("propext",)
    for one, verdict in zip(items, verdicts, strict=True):
        assert same(verdict) == same(await fresh.check(one, 30)), one.id


async def test_a_sorry_only_the_repl_lists_is_never_proved(tmp_path: Path) -> None:
    # A reply that lists a sorry but no warning and a clean axiom report: still not proved.
    sneaky = exchange(
        TRUE + "\n#print axioms t\n", {"messages": [axioms(2, "t")], "sorries": [sorry(1)]}
    )
    warm, _, pool = await recorded(tmp_path, [HEADER, sneaky]).make()
    try:
        verdict = await warm.check(item("t", TRUE), 30)
    finally:
        await pool.aclose()
    assert warm.fallbacks == 0 and verdict.status == "failed" and verdict.uses_sorry


async def test_a_process_is_recycled_after_n_items(tmp_path: Path) -> None:
    warm, _, pool = await recorded(tmp_path).make(recycle_after=2)
    try:
        verdicts = [await warm.check(item(str(n), TRUE), 30) for n in range(5)]
    finally:
        await pool.aclose()
    assert all(v.proved for v in verdicts) and warm.fallbacks == 0
    assert pool.started == 3  # 2 + 2 + 1


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ({"$crash": 1}, "the process died"),
        ({"$raw": '{"env": 1, "messages": []} and then some'}, "not JSON"),
        ({"$raw": "Processing incremental state [pos: 0..29]"}, "debug text"),
        ({"message": "Unknown environment."}, "a REPL error"),
        ({"$env": 0, "messages": [axioms(2, "t")]}, "an env that is not fresh"),
        ({"messages": [{"severity": "fatal", "pos": {"line": 2, "column": 0}, "data": "x"}]}, "?"),
        (
            {"messages": [{"severity": "info", "data": "'t' does not depend on any axioms"}]},
            "no pos",
        ),
        ({"messages": "none"}, "messages not a list"),
    ],
)
async def test_an_answer_out_of_protocol_drops_the_process_and_the_item_runs_fresh(
    tmp_path: Path, reply: dict[str, Any], why: str
) -> None:
    # The broken answer is to the sorry item: whatever it says, it must not count.
    broken = exchange(SORRY + "\n#print axioms s\n", reply)
    warm, fresh, pool = await recorded(tmp_path, [broken, *RECORDED]).make()
    try:
        verdict = await warm.check(item("sorry", SORRY), 30)
        after = await warm.check(item("true", TRUE), 30)
    finally:
        await pool.aclose()
    assert warm.fallbacks == 1, why
    assert verdict.status == "failed" and same(verdict) == same(
        await fresh.check(item("sorry", SORRY), 30)
    )
    assert after.proved and pool.started == 2  # the broken process was not lent again


async def test_an_unrecorded_request_ends_the_recorded_repl(tmp_path: Path) -> None:
    # The recording has no command for this item: the stand-in REPL refuses it, so the item
    # runs fresh (and the fresh stand-in fails it): the recording is what the pool must send.
    warm, _, pool = await recorded(tmp_path, [HEADER]).make()
    try:
        verdict = await warm.check(item("t", TRUE), 30)
    finally:
        await pool.aclose()
    assert warm.fallbacks == 1 and verdict.status == "failed"


async def test_a_header_that_fails_to_import_gets_no_process(tmp_path: Path) -> None:
    failing = exchange(
        "import Mathlib.Tactic",
        {"messages": [message(1, "unknown package 'Mathlib'", "error")]},
        env=None,
    )
    warm, fresh, pool = await recorded(tmp_path, [failing, *RECORDED[2:]]).make()
    try:
        verdict = await warm.check(item("mathlib", MATHLIB), 30)
    finally:
        await pool.aclose()
    assert pool.started == 0 and warm.fallbacks == 1
    assert same(verdict) == same(await fresh.check(item("mathlib", MATHLIB), 30))


async def test_a_hung_repl_is_killed_at_the_timeout_and_replaced(tmp_path: Path) -> None:
    hang = exchange(SORRY + "\n#print axioms s\n", {"$hang": 60})
    warm, _, pool = await recorded(tmp_path, [hang, *RECORDED]).make()
    try:
        verdict = await warm.check(item("sorry", SORRY), 1)
        after = await warm.check(item("true", TRUE), 30)
        idle = len(pool.idle)
    finally:
        await pool.aclose()
    assert verdict.status == "timeout" and "killed" in verdict.messages[0].text
    assert after.proved and pool.started == 2 and idle == 1


async def test_a_file_whose_header_is_not_plain_imports_runs_fresh(tmp_path: Path) -> None:
    warm, _, pool = await recorded(tmp_path).make()
    commented = "/- a comment first -/\n" + MATHLIB
    try:
        verdict = await warm.check(item("c", commented), 30)
    finally:
        await pool.aclose()
    assert pool.started == 0 and warm.fallbacks == 0
    assert verdict.status == "failed"  # the fresh stand-in has no recording of this file


def test_split_header_keeps_line_numbers_and_refuses_late_imports() -> None:
    assert split_header("import A\nimport B.C D\n\ntheorem t : True := trivial\n") == (
        ("A", "B.C", "D"),
        "\n\n\ntheorem t : True := trivial\n",
    )
    assert split_header("theorem t : True := trivial") == ((), "theorem t : True := trivial")
    assert split_header("-- c\nimport A\ntheorem t : True := trivial") is None
    assert split_header("prelude\ntheorem t : True := trivial") is None
    assert split_header("theorem t : True := trivial\n  import A") is None
    assert header_command(("A", "B")) == "import A\nimport B" and header_command(()) == ""


async def test_the_repl_protocol_directly(tmp_path: Path) -> None:
    setup = recorded(tmp_path)
    lean = await find_lean(setup.lean_path)
    repl_toolchain = find_repl(lean, setup.repl_path)
    assert repl_toolchain is not None
    repl = await LeanRepl.start(repl_toolchain, (), MEMORY_MB, 30)
    assert repl is not None
    try:
        deadline = time.monotonic() + 30
        first = await repl.run(TRUE + "\n#print axioms t\n", deadline)
        second = await repl.run(TRUE + "\n#print axioms t\n", deadline)
        assert first == second and first is not None and len(first) == 1
        assert '"severity": "information"' in first[0] and repl.runs == 2
        assert await repl.run("theorem unrecorded : True := trivial", deadline) is None
        assert not repl.alive
    finally:
        await repl.close()


def test_check_uses_the_configured_repl_and_refuses_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean_path, repl_path = install(tmp_path, RECORDED)
    items = [
        {"id": "true", "backend": "lean4", "code": TRUE},
        {"id": "sorry", "backend": "lean4", "code": SORRY},
    ]
    monkeypatch.setenv("SCILLM_LEAN_REPL", repl_path)
    warm = check(items, lean_path=lean_path)
    cold = check(items, lean_path=lean_path, warm=False)
    assert [v.status for v in warm] == ["proved", "failed"]
    assert [same(v) for v in warm] == [same(v) for v in cold]
    monkeypatch.setenv("SCILLM_LEAN_REPL", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"SCILLM_LEAN_REPL=.* is not an executable file"):
        check(items, lean_path=lean_path)
    [unavailable] = check(items[:1], lean_path="/nonexistent/lean")  # no lean: no REPL looked at
    assert unavailable.status == "unavailable"
