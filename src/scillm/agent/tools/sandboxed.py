"""Builtin tools that run model-written code: ``exec_python``, ``exec_code`` and ``exec_shell``.

Everything runs in :mod:`scillm.sandbox` (bubblewrap: no network, no host files, rlimits), never
on the host. ``exec_shell`` runs one command with no shell: its argv[0] must be exactly one of
the allow-listed names (``"ls"`` allows ``ls``, not ``/bin/ls`` or ``ls2``), and every argument
reaches the program verbatim. Allow-listing an interpreter (``python3``) allows any code in it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from scillm import sandbox
from scillm.agent.tools.base import ToolResult, function_spec

__all__ = ["SandboxTools", "to_tool_result"]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 512
MIN_TIMEOUT_S = 0.1  # the sandbox needs a positive limit even when the budget is spent
_COMMAND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # a bare name: no path, not an option


class SandboxTools:
    """``exec_python``/``exec_code`` for ``languages``; ``exec_shell`` with a ``shell_allow`` list.

        tools = SandboxTools(languages=("python", "bash"), shell_allow=("ls", "wc"))

    ``timeout_s`` caps each run (a tool call's own timeout may shorten it); runs past it are
    killed. ``allow_rlimits_only`` is the sandbox's opt-in for hosts without bubblewrap.
    """

    def __init__(
        self,
        *,
        languages: Iterable[str] | None = None,
        shell_allow: Iterable[str] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_mb: int = DEFAULT_MEMORY_MB,
        allow_rlimits_only: bool = False,
    ) -> None:
        self.languages = tuple(sandbox.LANGUAGES if languages is None else languages)
        unknown = sorted(set(self.languages) - set(sandbox.LANGUAGES))
        if unknown or not self.languages:
            raise ValueError(
                f"languages {unknown or '(none)'} not runnable; the sandbox runs: "
                f"{', '.join(sorted(sandbox.LANGUAGES))}"
            )
        self.shell_allow = frozenset(shell_allow)
        if not all(_COMMAND.fullmatch(name) for name in self.shell_allow):
            raise ValueError(
                f"shell_allow takes bare command names, got {sorted(self.shell_allow)}"
            )
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self.allow_rlimits_only = allow_rlimits_only

    async def list_tools(self) -> list[dict[str, Any]]:
        """The specs of the tools this configuration offers."""
        code = {"type": "string", "description": "The complete program."}
        stdin = {"type": "string", "description": "Text for standard input (optional)."}
        specs = [
            function_spec(
                "exec_code",
                "Run a program in a sandbox (no network, empty work dir) and return its output.",
                _object(
                    {"language": {"type": "string", "enum": list(self.languages)}, "code": code},
                    stdin=stdin,
                ),
            )
        ]
        if "python" in self.languages:
            specs.insert(
                0,
                function_spec(
                    "exec_python",
                    "Run Python 3 code in a sandbox (no network) and return stdout, stderr, rc. "
                    "Print what you need to see.",
                    _object({"code": code}, stdin=stdin),
                ),
            )
        if self.shell_allow:
            argv = {"type": "array", "items": {"type": "string"}, "minItems": 1}
            specs.append(
                function_spec(
                    "exec_shell",
                    "Run one command (no shell: no pipes, globs or ;) in a sandbox. Allowed "
                    f"commands: {', '.join(sorted(self.shell_allow))}.",
                    _object({"cmd": {"anyOf": [{"type": "string"}, argv]}}, stdin=stdin),
                ),
            )
        return specs

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout_s: float
    ) -> ToolResult:
        """Run one of the tools; arguments were checked against its spec by the toolbox."""
        stdin = arguments.get("stdin")
        if name == "exec_python":
            return await self.run_code("python", arguments["code"], stdin, timeout_s=timeout_s)
        if name == "exec_code":
            return await self.run_code(
                arguments["language"], arguments["code"], stdin, timeout_s=timeout_s
            )
        if name == "exec_shell":
            return await self._shell(arguments["cmd"], stdin, timeout_s)
        return ToolResult(ok=False, error=f"SandboxTools has no tool {name!r}")

    async def run_code(
        self, language: str, code: str, stdin: str | None = None, *, timeout_s: float | None = None
    ) -> ToolResult:
        """Run ``code`` in ``language``; also what auto-run of fenced code blocks uses."""
        if language not in self.languages:
            return ToolResult(
                ok=False,
                error=f"language {language!r} is not enabled; use {', '.join(self.languages)}",
            )
        return await self._run(language, code, stdin, timeout_s)

    async def _shell(self, cmd: str | list[str], stdin: str | None, timeout_s: float) -> ToolResult:
        try:
            argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        except ValueError as exc:
            return ToolResult(ok=False, error=f"cannot split the command: {exc}")
        if not argv or argv[0] not in self.shell_allow:
            allowed = ", ".join(sorted(self.shell_allow))
            return ToolResult(
                ok=False, error=f"command {argv[:1]} is not allowed; allowed commands: {allowed}"
            )
        # bash only execs the quoted argv: no word splitting, globbing or second command.
        return await self._run("bash", "exec " + shlex.join(argv), stdin, timeout_s)

    async def _run(
        self, language: str, code: str, stdin: str | None, timeout_s: float | None
    ) -> ToolResult:
        limit = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        result = await sandbox.arun(
            code,
            language,
            stdin=stdin,
            timeout_s=max(limit, MIN_TIMEOUT_S),
            memory_mb=self.memory_mb,
            allow_rlimits_only=self.allow_rlimits_only,
        )
        return to_tool_result(result)


def _object(properties: dict[str, Any], **optional: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**properties, **optional},
        "required": list(properties),
        "additionalProperties": False,
    }


def to_tool_result(result: sandbox.SandboxResult) -> ToolResult:
    """A sandbox verdict as a tool result: the status and its explanation become ``error``."""
    error = None if result.ok else f"{result.status}: {result.message}".rstrip(": ")
    if result.compile_stderr and not result.ok:
        error = f"{error}\n{result.compile_stderr}"
    return ToolResult(
        ok=result.ok, stdout=result.stdout, stderr=result.stderr, rc=result.exit_code, error=error
    )
