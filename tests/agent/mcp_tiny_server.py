"""A tiny MCP server over stdio, written from the protocol (JSON-RPC lines), for the tests.

Tools: ``add(a, b)``, ``explode(message)`` (reports an error), ``stall()`` (answers after 30 s).
Run as ``python mcp_tiny_server.py``; it exits when stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

INTEGER = {"type": "integer"}
TOOLS = [
    {
        "name": "add",
        "description": "Add two integers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": INTEGER, "b": INTEGER},
            "required": ["a", "b"],
        },
    },
    {
        "name": "explode",
        "description": "Always fails with the message.",
        "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}},
    },
    {"name": "stall", "description": "Answers too late.", "inputSchema": {"type": "object"}},
]
lock = threading.Lock()


def send(message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def text(value: Any, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": str(value)}], "isError": error}


def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    if name == "add":
        return text(args["a"] + args["b"]) | {
            "structuredContent": {"result": args["a"] + args["b"]}
        }
    if name == "explode":
        return text(f"explode: {args.get('message')}", error=True)
    time.sleep(30)
    return text("too late")


def answer(request: dict[str, Any]) -> None:
    method, params, ident = request.get("method"), request.get("params") or {}, request.get("id")
    if method == "initialize":
        version = params.get("protocolVersion", "2025-06-18")
        info = {"name": "tiny", "version": "1.0"}
        result: Any = {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": info,
        }
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = call(params["name"], params.get("arguments") or {})
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": f"no {method}"}})
        return
    send({"jsonrpc": "2.0", "id": ident, "result": result})


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "id" in request:  # notifications need no answer
            threading.Thread(target=answer, args=(request,), daemon=True).start()


if __name__ == "__main__":
    main()
