"""Mini-agent: the agent server answers a task with its model, running the code it writes.

The agent server (``MINI_AGENT_URL``, else the stack's; its model is the server's, the embedded
``local/smollm2`` by default) gets a small programming task with
``auto_run_code_on_code_block``. Its reply must be a final answer from the model (tokens used,
not the task echoed); every program the model wrote must have run in the sandbox, and its output
must have been fed back to the model before the final answer.
"""

from __future__ import annotations

from typing import Any

from scillm.scenarios.base import Scenario, Skip, check
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

TASK = "Write a Python program that prints the sum of 20 and 22."


def run(ctx: Context) -> str:
    ready = ctx.call("agent", "/healthz")
    if isinstance(ready.body, dict) and ready.body.get("missing"):
        raise Skip(f"the agent server cannot run code: {'; '.join(ready.body['missing'])}")
    body = {
        "model": "mini-agent",
        "messages": [{"role": "user", "content": TASK}],
        "temperature": 0,
        "seed": 1,
        "max_iterations": 3,
        "auto_run_code_on_code_block": True,
    }
    answer = ctx.call("agent", "/v1/chat/completions", body, timeout=300)
    if answer.status == 503 and "extra" in answer.error():
        raise Skip(f"the agent server's model is unavailable: {answer.error()}")
    check(answer.status == 200, f"HTTP {answer.status}: {answer.error()}")
    reply: dict[str, Any] = answer.body
    content = reply["choices"][0]["message"]["content"]
    run_info = reply["mini_agent"]
    check(isinstance(content, str) and content.strip(), f"an empty answer: {reply}")
    check(content.strip() != TASK, "the answer is the task echoed back")
    check(reply["usage"]["completion_tokens"] > 0, f"no tokens generated: {reply['usage']}")
    check(
        run_info["stopped_reason"] in ("final_answer", "max_iterations"),
        f"the run stopped on {run_info['stopped_reason']}",
    )
    check(len(run_info["iterations"]) >= 1, "the model was never asked")
    texts = [m.get("content") or "" for m in run_info["messages"] if m["role"] == "user"]
    for inv in run_info["tool_invocations"]:
        check(isinstance(inv.get("ok"), bool) and "rc" in inv, f"tool run without a result {inv}")
        check(
            any(inv.get("stdout", "").strip() in t for t in texts[1:]),
            f"the output of {inv['name']} never reached the model: {inv}",
        )
    ran = len(run_info["tool_invocations"])
    return (
        f"{run_info['stopped_reason']} after {len(run_info['iterations'])} model turn(s), "
        f"{ran} program(s) run in the sandbox, {reply['usage']['total_tokens']} tokens"
    )


SCENARIO = Scenario("mini_agent", "Mini-agent: the agent server answers a task", ("agent",), run)

if __name__ == "__main__":
    run_one(SCENARIO)
