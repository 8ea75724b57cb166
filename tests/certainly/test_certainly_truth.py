"""The truth tests: true theorems are proved, and no false statement is ever proved, whatever trick.

The cases (``coq_cases.py``) run through the real, sandboxed coqc once per session.
"""

from __future__ import annotations

import pytest
from coq_cases import FALSE, HONEST, TRUE

from scillm.certainly import Verdict

pytestmark = pytest.mark.requires("coqc", apt="coq")


@pytest.mark.parametrize("name", TRUE)
def test_a_true_theorem_is_proved(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[f"true/{name}"]
    assert v.status == "proved", v.messages
    assert not v.uses_sorry and v.axioms == ()


@pytest.mark.parametrize("name", FALSE)
def test_a_false_statement_is_never_proved(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[f"false/{name}"]
    assert v.status in ("failed", "error"), v
    assert any(m.severity == "error" for m in v.messages)


def test_nothing_but_the_honest_cases_is_proved(verdicts: dict[str, Verdict]) -> None:
    assert {name for name, v in verdicts.items() if v.proved} == HONEST
