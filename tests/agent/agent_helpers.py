"""Helpers for the agent tests: scripted model turns and observation parsing."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from scillm.testing import Reply

Step = Reply | str | Callable[[dict[str, Any]], Reply | str]


class Script:
    """A mock reply function that plays ``steps`` in order and keeps every request body.

    Past the last step it keeps answering with the last one.
    """

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply | str:
        with self._lock:
            step = self.steps[min(len(self.bodies), len(self.steps) - 1)]
            self.bodies.append(body)
        return step(body) if callable(step) else step


def calls(*pairs: tuple[str, Any], ids: tuple[str, ...] = ()) -> Reply:
    """A model turn calling tools: ``calls(("exec_python", {"code": "print(1)"}))``."""
    ids = ids or tuple(f"call_{i}" for i in range(len(pairs)))
    return Reply(
        content=None,
        tool_calls=[
            {"id": i, "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in zip(ids, pairs, strict=True)
        ],
    )


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The observations (parsed) in a request body's messages."""
    return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yields ``http://127.0.0.1:PORT``."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
