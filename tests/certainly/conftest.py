"""The shared Coq batch: every case of ``coq_cases`` checked once per session."""

from __future__ import annotations

import pytest
from coq_cases import CASES

from scillm.certainly import Verdict, check


@pytest.fixture(scope="session")
def verdicts() -> dict[str, Verdict]:
    """One batch for every case (coqc start-up dominates); 4 workers overlap the start-ups."""
    items = [{"id": name, "backend": "coq", **fields} for name, fields in CASES.items()]
    results = check(items, max_workers=4)
    assert [v.id for v in results] == list(CASES)
    return {str(v.id): v for v in results}
