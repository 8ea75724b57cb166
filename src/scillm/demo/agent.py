"""The full demo's agent step: the mini-agent loop asks the model for a program, runs the code
block it writes in the sandbox (bubblewrap: no network, no host files) and hands the output
back; ok when sandboxed code ran and the run ended on a final answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scillm.demo.steps import StepResult, save_json
from scillm.errors import EngineUnavailable

__all__ = ["TASK", "agent_step"]

TASK = (
    "Write a Python program that prints the sum of the numbers from 1 to 100. "
    "Put it in a ```python code block."
)
MAX_TOKENS = 120


def agent_step(model: str, out_dir: Path) -> StepResult:
    """Run the agent on ``TASK`` with code blocks run in the sandbox (the run goes to
    ``agent.json``)."""
    from scillm.agent import AgentConfig, arun_agent
    from scillm.sandbox import isolation_available

    host = isolation_available()
    if not host["isolated"]:
        raise EngineUnavailable(f"no sandbox: {host['problem']}")
    config = AgentConfig(max_iterations=3, max_seconds=90, auto_run_code_on_code_block=True)
    messages = [{"role": "user", "content": TASK}]
    result = asyncio.run(
        arun_agent(messages, model, config=config, temperature=0, seed=7, max_tokens=MAX_TOKENS)
    )
    save_json(out_dir / "agent.json", result.to_dict())
    runs = [call for it in result.iterations for call in it.tool_invocations]
    ran = [call for call in runs if call.result.ok]
    shown = ran[0].result if ran else (runs[0].result if runs else None)
    stdout = (shown.stdout or "").strip()[:40] if shown else ""
    line = (
        f"the model wrote {len(runs)} code block(s); the sandbox ran them: "
        f"rc {shown.rc if shown else '-'}, stdout {stdout!r}; "
        f"stopped: {result.stopped_reason} after {len(result.iterations)} step(s)"
    )
    ok = bool(ran) and result.stopped_reason == "final_answer"
    return StepResult.judged("agent", ok, line)
