"""One warm Lean 4 REPL (leanprover-community/repl) with an import header loaded.

The REPL reads JSON commands separated by blank lines and answers each with a JSON object and a
blank line. ``{"cmd": "import Mathlib"}`` (no ``env``) loads a header and answers ``{"env": 0}``;
``{"cmd": "<item>", "env": 0}`` elaborates the item *from that environment* and answers
``{"env": N, "messages": [...], "sorries": [...]}``. Environments are immutable snapshots: a
command run from env 0 never sees what another command run from env 0 declared, opened or
``set_option``-ed. So :class:`LeanRepl` sends every item with the header's env, never with a
previous item's, and no item can affect the next.

The REPL runs in the sandbox (:mod:`scillm.certainly.isolation`'s bubblewrap + seccomp + rlimits)
like ``lean``, seeing the Lean toolchain, ``LEAN_PATH`` and the REPL's own tree read-only. Its
reply is trusted only when it parses and has the protocol's shape; anything else — text that
is not JSON, a REPL error (``{"message": ...}``), an ``env`` that is not a fresh number, a
malformed message, the process ending — makes :meth:`LeanRepl.run` return None: the caller drops
the process and checks the item with a fresh ``lean`` instead. A run past its deadline kills
the process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from scillm.certainly.process import OUTPUT_LIMIT, Toolchain
from scillm.certainly.warm import WarmProcess

__all__ = ["LeanRepl", "header_command", "json_lines"]

# What lean --json calls a message's severity, for each REPL severity.
_SEVERITIES = {
    "error": "error",
    "warning": "warning",
    "info": "information",
    "trace": "information",
}


def header_command(modules: Sequence[str]) -> str:
    """The header's command: one ``import`` line per module (none: Lean's default ``Init``)."""
    return "\n".join(f"import {module}" for module in modules)


class LeanRepl(WarmProcess):
    """One sandboxed REPL with ``header`` (module names) imported; :meth:`run` checks one item."""

    def __init__(self, header: tuple[str, ...]) -> None:
        super().__init__()
        self.header = header
        self._env = -1  # the header's environment
        self._last = -1  # the newest environment the process answered with

    @classmethod
    async def start(
        cls,
        repl: Toolchain,
        header: tuple[str, ...],
        memory_mb: int,
        timeout_s: float,
    ) -> LeanRepl | None:
        """Start the REPL and import ``header``; None if that fails (the caller runs lean)."""
        process = cls(header)
        try:
            await process._spawn(repl, (), memory_mb, {".keep": b""}, discard="stderr")
            reply = await process._ask(
                {"cmd": header_command(header)}, time.monotonic() + timeout_s
            )
            if reply is None or _errors(reply) or json_lines(reply) is None:
                raise _Broken
            process._env = process._last
            return process
        except (_Broken, OSError, TimeoutError):
            await process.close()
            return None
        except BaseException:  # cancelled while starting: leave no process behind
            await process.close()
            raise

    async def run(self, body: str, deadline: float) -> list[str] | None:
        """Elaborate ``body`` from the header's environment: its messages as ``lean --json``
        lines (sorries included as "declaration uses 'sorry'" warnings).

        None: this process can no longer be trusted (closed; check the item fresh). Past
        ``deadline`` the process is killed and TimeoutError raised.
        """
        self.runs += 1
        try:
            reply = await self._ask({"cmd": body, "env": self._env}, deadline)
            lines = None if reply is None else json_lines(reply)
            if lines is None:
                raise _Broken
            return lines
        except TimeoutError:
            await self.close()
            raise
        except (_Broken, OSError):
            self.broken = True
            await self.close()
            return None

    async def _ask(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any] | None:
        """Send one command; its reply if it has the protocol's shape, else None."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        proc.stdin.write(json.dumps(request).encode() + b"\n\n")
        await proc.stdin.drain()
        text = await self._reply(proc.stdout, deadline)
        if text is None:
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        reply: dict[str, Any] = parsed
        env = reply.get("env")
        if not isinstance(env, int) or isinstance(env, bool) or env <= self._last:
            return None  # a REPL error ({"message": ...}), or not a fresh environment
        if not all(isinstance(reply.get(key, []), list) for key in ("messages", "sorries")):
            return None
        self._last = env
        return reply

    async def _reply(self, stdout: asyncio.StreamReader, deadline: float) -> str | None:
        """The lines up to the blank line that ends a reply; None at EOF or past the limit."""
        lines: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                line = await asyncio.wait_for(stdout.readline(), remaining)
            except (ValueError, asyncio.LimitOverrunError):
                return None
            if not line:
                return None
            if not line.strip():
                if lines:
                    return b"".join(lines).decode("utf-8", "replace")
                continue
            size += len(line)
            if size > OUTPUT_LIMIT:
                return None
            lines.append(line)


class _Broken(Exception):
    """The process answered in a way a fresh lean run would not have."""


def _errors(reply: Mapping[str, Any]) -> bool:
    messages = reply.get("messages") or []
    return any(not isinstance(m, dict) or m.get("severity") == "error" for m in messages)


def json_lines(reply: Mapping[str, Any]) -> list[str] | None:
    """A command's reply as ``lean --json`` lines, None if a message is malformed.

    Every REPL sorry becomes a "declaration uses 'sorry'" warning (``kind: hasSorry``), so an
    item with one is never proved even if the REPL left its message out.
    """
    lines = []
    for message in reply.get("messages") or []:
        if not isinstance(message, dict):
            return None
        pos, data = message.get("pos"), message.get("data")
        severity = _SEVERITIES.get(str(message.get("severity")))
        if severity is None or not isinstance(data, str) or not _position(pos):
            return None
        lines.append(json.dumps({"severity": severity, "pos": pos, "data": data}))
    for sorry in reply.get("sorries") or []:
        pos = sorry.get("pos") if isinstance(sorry, dict) else None
        if not _position(pos):
            return None
        text = "declaration uses 'sorry'"
        lines.append(
            json.dumps({"severity": "warning", "pos": pos, "data": text, "kind": "hasSorry"})
        )
    return lines


def _position(pos: object) -> bool:
    if not isinstance(pos, dict):
        return False
    return all(
        isinstance(pos.get(k), int) and not isinstance(pos.get(k), bool) for k in ("line", "column")
    )
