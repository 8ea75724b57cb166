"""Known critical soundness bugs of the provers, by version: facts with their sources, no code.

Coq/Rocq entries come from Rocq's ``dev/doc/critical-bugs.md`` (read at rocq-prover/rocq
9b9978d3, 2026-08-22): the bugs that can make a Coq 8.16 to 8.20 kernel accept something false,
plus those still unfixed everywhere. Lean 4 entries come from the Lean 4.34.0 release notes
("Kernel Soundness and Hardening"). ``affected_from`` is the first affected release,
``fixed_in`` the first release with the fix (None: not fixed); a version is affected when
``affected_from <= version < fixed_in``. Every verdict lists the entries of its prover's
version (``Verdict.known_bugs``), so a ``proved`` says which kernel it trusted.

>>> [bug.id for bug in bugs_for("coq", "8.16.1")][:2]
['rocq#13439', 'rocq#16891']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CRITICAL_BUGS", "KnownBug", "bugs_for"]

_ROCQ = "https://github.com/rocq-prover/rocq/issues/"
_CRITICAL = "https://github.com/rocq-prover/rocq/blob/master/dev/doc/critical-bugs.md"
_LEAN = "https://github.com/leanprover/lean4/pull/"
_LEAN_NOTES = "Lean 4.34.0 release notes, section Kernel Soundness and Hardening"


@dataclass(frozen=True)
class KnownBug:
    """One critical bug: where it is, which releases have it, its issue and the list it is in."""

    prover: str
    id: str
    title: str
    component: str
    affected_from: str
    fixed_in: str | None
    source: str
    listed_in: str

    def affects(self, version: str) -> bool:
        """Whether ``version`` (``8.16.1``, ``4.21.0-rc2``) has this bug."""
        have = _numbers(version)
        if have is None or have < _numbers_or_zero(self.affected_from):
            return False
        return self.fixed_in is None or have < _numbers_or_zero(self.fixed_in)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "component": self.component,
            "affected_from": self.affected_from,
            "fixed_in": self.fixed_in,
            "source": self.source,
            "listed_in": self.listed_in,
        }


def _coq(issue: int, title: str, component: str, since: str, fixed: str | None) -> KnownBug:
    source = f"{_ROCQ}{issue}"
    return KnownBug("coq", f"rocq#{issue}", title, component, since, fixed, source, _CRITICAL)


def _lean(pull: int, title: str, component: str) -> KnownBug:
    source = f"{_LEAN}{pull}"
    return KnownBug(
        "lean4", f"lean4#{pull}", title, component, "4.0.0", "4.34.0", source, _LEAN_NOTES
    )


CRITICAL_BUGS: tuple[KnownBug, ...] = (
    _coq(13439, "buffer overflow on large records and closures", "VM reduction", "8.1", None),
    _coq(16891, "memory corruption by evaluating ill-typed terms", "VM and native", "8.1", None),
    _coq(
        12155,
        "Print Assumptions + Parameter Inline fails to report inconsistent flags",
        "module functors",
        "8.6",
        None,
    ),
    _coq(
        16646,
        "Print Assumptions does not report Unset Universe Checking in functor application",
        "module functors",
        "8.11",
        None,
    ),
    _coq(7609, "kernel accepts incorrect name aliasing information", "names", "8.0", "9.2.0"),
    _coq(
        18503,
        "primitives considered convertible to anything by module subtyping",
        "modules, primitive types",
        "8.11",
        "8.19.0",
    ),
    _coq(19402, "broken addmuldiv operation for large shifts", "VM", "8.10", "8.20"),
    _coq(
        16957,
        "tactic code could mutate a global cache of values for section variables",
        "VM",
        "8.1",
        "8.17.0",
    ),
    _coq(
        17871,
        "nativenorm reads back closures as arbitrary floating-point values",
        "native_compute, primitive floats",
        "8.11",
        "8.18.0",
    ),
    _coq(
        19861,
        "section variables used in side effects not checked by Proof using",
        "side effects, sections",
        "8.11",
        "9.0",
    ),
    _coq(
        20413,
        "guard checker forgot to check non-structural arguments of fixpoint",
        "guard checking",
        "8.16",
        "9.0.1",
    ),
    _coq(
        20455,
        "guard checker incorrectly detects match on match as returning a subterm",
        "guard checking",
        "8.16",
        "9.0.1",
    ),
    _coq(
        20555,
        "guard checker does incorrect reduction across inner fixpoint",
        "guard checking",
        "8.16",
        "9.0.1",
    ),
    _coq(
        21053,
        "guard condition inconsistent with propositional extensionality (library Sets)",
        "guard checking",
        "8.0",
        "9.0.1",
    ),
    _coq(21051, "missing substitution when strengthening functors", "modules", "8.5", "9.0.1"),
    _coq(
        21685, "missing substitution when strengthening aliased functors", "modules", "8.5", "9.2.0"
    ),
    _coq(
        21702,
        "incorrect subtyping rule for universe polymorphic 'with Definition'",
        "modules",
        "8.5",
        "9.2.0",
    ),
    _coq(
        21736,
        "forgotten universe substitution with Register Inline on polymorphic definition",
        "VM and native",
        "8.5",
        "9.2.0",
    ),
    _coq(
        21688,
        "double universe substitution in letins from indices in match return clause",
        "conversion",
        "8.14",
        "9.2",
    ),
    _coq(
        21696,
        "missing stack conversion for irrelevant-to-relevant match",
        "conversion, SProp",
        "8.16",
        "9.2",
    ),
    _coq(
        22376,
        "variance inference ignores stack of stuck irrelevant to relevant matches",
        "inductives, universe polymorphism",
        "8.13",
        "9.2.1",
    ),
    _coq(
        21839,
        "guard checker sometimes does reduction in the wrong context",
        "guard checking",
        "8.16",
        "9.3",
    ),
    _lean(14806, "is_def_eq cache made answers depend on earlier queries", "kernel"),
    _lean(14807, "is_prop answered false for stuck types, skipping proof irrelevance", "kernel"),
    _lean(14838, "32-bit reference count overflow could become use-after-free", "runtime"),
)


def bugs_for(prover: str, version: str | None) -> tuple[KnownBug, ...]:
    """The listed bugs that ``version`` of ``prover`` has; empty when the version is unknown."""
    if version is None:
        return ()
    return tuple(bug for bug in CRITICAL_BUGS if bug.prover == prover and bug.affects(version))


def _numbers(version: str) -> tuple[int, ...] | None:
    found = re.match(r"v?(\d+(?:\.\d+)*)", version.strip(), re.IGNORECASE)
    if found is None:
        return None
    numbers = [int(part) for part in found.group(1).split(".")]
    return tuple(numbers + [0] * (3 - len(numbers)))


def _numbers_or_zero(version: str) -> tuple[int, ...]:
    return _numbers(version) or (0, 0, 0)
