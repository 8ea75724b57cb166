"""``check``/``acheck``: verdicts for a batch of proof items, checked concurrently.

Each item runs in its own prover process under a per-item deadline, at most ``max_workers`` at
a time; a failing, malformed or hung item gets its own verdict and never fails the batch.
Verdicts come back in input order. With ``warm`` (the default) a batch's Coq audits run in warm
coqtop processes (:mod:`scillm.certainly.pool`), and its Lean items in warm REPLs where one is
configured (:mod:`scillm.certainly.lean_pool`), closed when the batch ends; the verdicts are
the ones fresh processes give.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from scillm import _sync
from scillm.certainly.coq import CoqChecker, find_coqc, new_pool
from scillm.certainly.isolation import isolation
from scillm.certainly.items import BACKENDS, ProofItem, parse_item
from scillm.certainly.known_bugs import bugs_for
from scillm.certainly.lean import MEMORY_MB as LEAN_MEMORY_MB
from scillm.certainly.lean import LeanChecker, find_lean
from scillm.certainly.lean_pool import new_lean_pool
from scillm.certainly.process import Toolchain
from scillm.certainly.verdict import Message, Verdict

__all__ = ["DEFAULT_TIMEOUT_S", "aavailable_backends", "acheck", "available_backends", "check"]

DEFAULT_TIMEOUT_S = 60.0


class Checker(Protocol):
    """A backend bound to one prover executable: checks one item within a timeout."""

    async def check(self, item: ProofItem, timeout_s: float) -> Verdict: ...


_FINDERS: dict[str, Callable[[str | None], Awaitable[Toolchain]]] = {
    "coq": find_coqc,
    "lean4": find_lean,
}
_CHECKERS: dict[str, Callable[[Toolchain, frozenset[str]], Checker]] = {
    "coq": CoqChecker,
    "lean4": LeanChecker,
}


def check(
    items: Sequence[Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_workers: int | None = None,
    axiom_allowlist: Iterable[str] = (),
    coqc_path: str | None = None,
    lean_path: str | None = None,
    warm: bool = True,
) -> list[Verdict]:
    """Check proof items and return one verdict per item, in order.

    >>> [v.status for v in check([{"id": "t", "backend": "coq",
    ...     "code": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."}])]  # doctest: +SKIP
    ['proved']

    ``timeout_s`` bounds each item; ``max_workers`` defaults to the CPU count; ``axiom_allowlist``
    names axioms exactly as verdicts report them (``Classical_Prop.classic``, ``Top.my_axiom`` for
    one the Coq item declares; Lean's ``propext``, ``Classical.choice`` and ``Quot.sound`` are
    always allowed). ``coqc_path``/``lean_path`` override ``SCILLM_COQC``/``SCILLM_LEAN`` and PATH.
    ``warm=False`` audits every Coq item with fresh coqc processes only, and checks every Lean
    item with a fresh lean (else ``SCILLM_LEAN_REPL`` names a REPL to keep warm).
    Raises ValueError only for bad arguments; a bad item gets an ``error`` verdict.
    """
    return _sync.run(
        acheck(
            items,
            timeout_s=timeout_s,
            max_workers=max_workers,
            axiom_allowlist=axiom_allowlist,
            coqc_path=coqc_path,
            lean_path=lean_path,
            warm=warm,
        )
    )


async def acheck(
    items: Sequence[Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_workers: int | None = None,
    axiom_allowlist: Iterable[str] = (),
    coqc_path: str | None = None,
    lean_path: str | None = None,
    warm: bool = True,
) -> list[Verdict]:
    """Async twin of :func:`check`."""
    allowlist = _validate(items, timeout_s, max_workers, axiom_allowlist)
    if not isinstance(warm, bool):
        raise ValueError(f"warm must be True or False, not {warm!r}")
    parsed = [parse_item(raw, index) for index, raw in enumerate(items)]
    wanted = {p.backend for p in parsed if isinstance(p, ProofItem)}
    toolchains = await _toolchains(wanted, {"coq": coqc_path, "lean4": lean_path})
    workers = max_workers or os.cpu_count() or 1
    lean = toolchains.get("lean4")
    lean_pool = None  # made first: a bad SCILLM_LEAN_REPL is a ValueError, before any process
    if warm and lean is not None and lean.available:
        lean_pool = new_lean_pool(lean, workers, LEAN_MEMORY_MB)
    coq = toolchains.get("coq")
    pool = new_pool(coq, workers) if warm and coq is not None and coq.available else None
    checkers = {
        name: _CHECKERS[name](toolchain, allowlist)
        for name, toolchain in toolchains.items()
        if toolchain.available
    }
    if pool is not None and coq is not None:
        checkers["coq"] = CoqChecker(coq, allowlist, pool)
    if lean_pool is not None and lean is not None:
        checkers["lean4"] = LeanChecker(lean, allowlist, lean_pool)
    gate = asyncio.Semaphore(workers)

    async def one(item: ProofItem | Verdict) -> Verdict:
        if isinstance(item, Verdict):
            return item
        checker = checkers.get(item.backend)
        if checker is None:
            problem = toolchains[item.backend].problem or "not available"
            return Verdict(item.id, item.backend, "unavailable", (Message("error", None, problem),))
        async with gate:
            try:
                return await checker.check(item, timeout_s)
            except Exception as exc:  # one broken item must not lose the batch's other verdicts
                text = f"scillm could not check this item: {type(exc).__name__}: {exc}"
                return Verdict(item.id, item.backend, "error", (Message("error", None, text),))

    try:
        return list(await asyncio.gather(*(one(p) for p in parsed)))
    finally:
        if pool is not None:
            await pool.aclose()
        if lean_pool is not None:
            await lean_pool.aclose()


def available_backends(
    *, coqc_path: str | None = None, lean_path: str | None = None
) -> dict[str, dict[str, object]]:
    """Per backend: ``{available, version, path, detail, isolation, known_bugs}``.

    ``detail`` says why a backend is unavailable; ``isolation`` what protects the host from its
    prover: ``bwrap+rlimits``, or ``rlimits-only`` where bubblewrap cannot isolate (then only
    the command screen stands between a checked file and the host); ``known_bugs`` the ids of
    the critical soundness bugs listed for that version (:mod:`scillm.certainly.known_bugs`).
    """
    return _sync.run(aavailable_backends(coqc_path=coqc_path, lean_path=lean_path))


async def aavailable_backends(
    *, coqc_path: str | None = None, lean_path: str | None = None
) -> dict[str, dict[str, object]]:
    """Async twin of :func:`available_backends`."""
    found = await _toolchains(set(BACKENDS), {"coq": coqc_path, "lean4": lean_path})
    isolated = await isolation() if any(t.available for t in found.values()) else None
    return {
        name: {
            **found[name].to_dict(),
            "isolation": isolated if found[name].available else None,
            "known_bugs": [bug.id for bug in bugs_for(name, found[name].version)],
        }
        for name in BACKENDS
    }


async def _toolchains(wanted: set[str], paths: dict[str, str | None]) -> dict[str, Toolchain]:
    names = sorted(wanted)
    found = await asyncio.gather(*(_FINDERS[name](paths[name]) for name in names))
    return dict(zip(names, found, strict=True))


def _validate(
    items: object, timeout_s: object, max_workers: object, axiom_allowlist: object
) -> frozenset[str]:
    """Reject programming errors in the arguments; returns the allow-list as a set."""
    if not isinstance(items, list | tuple):
        raise ValueError(f"items must be a list of item dicts, not {type(items).__name__}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise ValueError(f"max_workers must be a positive integer or None, not {max_workers!r}")
    if isinstance(axiom_allowlist, str) or not isinstance(axiom_allowlist, Iterable):
        raise ValueError("axiom_allowlist must be a list of axiom names, not a single string")
    names = list(axiom_allowlist)
    if not all(isinstance(name, str) for name in names):
        raise ValueError("axiom_allowlist must contain only strings")
    return frozenset(names)
