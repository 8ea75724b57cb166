"""``prove(progress=True)`` shows its attempts on stderr; without it, nothing."""

from __future__ import annotations

from typing import Any

import pytest

from scillm.certainly.prove import prove
from scillm.testing import MockLLMServer

pytestmark = pytest.mark.requires("coqc", apt="coq")

STATEMENT = "Theorem add_0 : forall n : nat, n + 0 = n."
WRONG = f"```coq\n{STATEMENT}\n```\n```coq\nProof. reflexivity. Qed.\n```"
RIGHT = f"```coq\n{STATEMENT}\n```\n```coq\nProof. induction n; simpl; auto. Qed.\n```"


def replies(body: dict[str, Any]) -> str:
    return RIGHT if "Unable to unify" in str(body["messages"][-1]["content"]) else WRONG


@pytest.mark.parametrize("progress", [True, False])
def test_the_attempts_are_shown_when_asked(
    progress: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockLLMServer(reply=replies) as server:
        result = prove(
            "adding zero changes nothing",
            model="openai/mock",
            api_base=server.base_url,
            api_key="k",
            max_refinements=2,
            progress=progress,
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert result.proved and len(result.attempts) == 2
    if not progress:
        assert err == []
        return
    assert err[-1].startswith("prove goal  2/3 attempts  ")
    assert "checked 2  proved 1" in err[-1]
