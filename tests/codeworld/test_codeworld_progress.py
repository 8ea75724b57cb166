"""An MCTS search shows its rollouts when asked (``progress=True``), and nothing otherwise."""

from __future__ import annotations

import time

import pytest

from scillm.codeworld import mcts
from scillm.codeworld.evaluation import Evaluator
from scillm.codeworld.execute import SandboxPool
from scillm.codeworld.request import parse_request
from scillm.testing import ScriptedModel

pytestmark = pytest.mark.usefixtures("isolated")

ABS = "def solve(x):\n    return abs(x)\n"
FIXED = "def solve(x):\n    return abs(int(x))\n"
ITEM = {
    "id": "abs",
    "task": "Return the absolute value of x (an int, or a string of one).",
    "variants": {"identity": "def solve(x):\n    return x\n"},
    "tests": [
        {"id": "neg", "args": [-3], "expected": 3},
        {"id": "text", "args": ["-7"], "expected": 7},
    ],
}


def fence(code: str) -> str:
    return f"```python\n{code}```\n"


@pytest.mark.parametrize("progress", [True, False])
async def test_the_rollouts_are_shown_on_stderr_when_asked(
    progress: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "messages": [],
        "items": [ITEM],
        "provider": {"name": "codeworld", "args": {"strategy": "mcts", "rollouts": 6, "seed": 1}},
    }
    request = parse_request(body)
    evaluator = Evaluator(SandboxPool(2), time.monotonic() + 120)
    async with ScriptedModel([fence(ABS), fence(FIXED)]) as model:
        _, report = await mcts.search(
            request.items[0], request.config, evaluator, model=model.router(), progress=progress
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert report["stopped"] == "perfect" and report["rollouts"] == 2
    if not progress:
        assert err == []
        return
    assert err[-1].startswith("mcts abs  2/6 rollouts  ")
    assert f"programs {report['explored']}" in err[-1] and report["explored"] == 3
