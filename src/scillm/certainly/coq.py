"""The Coq backend: compile with ``coqc``, then audit the compiled library from a clean file.

coqc exits 0 on files that end in ``Admitted``, use an ``Axiom`` or ``Abort`` the goal, so its
exit code is never the verdict. A theorem is proved only if it exists, rests on no Admitted proof,
no axiom outside the allow-list and no switched-off kernel check; a ``statement`` item's theorem
must also be syntactically the given statement; a ``code`` item may not redefine notation the
standard library already has. ``coq_audit`` explains how each is established.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from scillm.certainly.coq_audit import AUDIT_FILE, Audit
from scillm.certainly.coq_output import LIBRARY, located_messages, parse_glob
from scillm.certainly.coq_source import CoqSource, assemble
from scillm.certainly.items import ProofItem
from scillm.certainly.process import Ran, Toolchain, find_toolchain, run
from scillm.certainly.verdict import Message, Verdict, error_verdict

__all__ = ["COQC_ENV", "CoqChecker", "find_coqc"]

COQC_ENV = "SCILLM_COQC"
INSTALL_HINT = "install Coq (Debian/Ubuntu: apt-get install coq) and put coqc on PATH"
SOURCE_FILE = f"{LIBRARY}.v"


async def find_coqc(configured: str | None = None) -> Toolchain:
    """coqc from the argument, ``SCILLM_COQC`` or PATH, with its version."""
    return await find_toolchain("coq", configured, COQC_ENV, "coqc", INSTALL_HINT)


class CoqChecker:
    """Checks Coq items with one coqc; ``allowlist`` names axioms as ``Verdict.axioms`` does."""

    def __init__(self, toolchain: Toolchain, allowlist: frozenset[str]) -> None:
        assert toolchain.path is not None
        self._coqc_path = toolchain.path
        self._version = toolchain.version
        self._allowlist = allowlist

    async def check(self, item: ProofItem, timeout_s: float) -> Verdict:
        """Compile and audit ``item`` in its own temporary directory within ``timeout_s``."""
        started = time.monotonic()
        source = assemble(item)
        if isinstance(source, str):
            verdict = error_verdict(item.id, "coq", source)
        else:
            with tempfile.TemporaryDirectory(prefix="scillm-coq-") as root:
                verdict = await self._check_in(Path(root), item, source, timeout_s)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return replace(verdict, time_ms=elapsed_ms, backend_version=self._version)

    async def _check_in(
        self, root: Path, item: ProofItem, source: CoqSource, timeout_s: float
    ) -> Verdict:
        deadline = time.monotonic() + timeout_s
        # coqc runs in root/src; the .glob it writes lies outside, where the item cannot replace it.
        work, glob_path = root / "src", root / f"{LIBRARY}.glob"
        work.mkdir()
        (work / SOURCE_FILE).write_text(source.text, encoding="utf-8")
        ran = await self._coqc(work, ["-dump-glob", str(glob_path), SOURCE_FILE], deadline)
        if ran.timed_out:
            return _timeout(item, timeout_s)
        messages = _source_messages(ran)
        if ran.returncode != 0:
            return Verdict(item.id, "coq", "failed", tuple(_with_error(messages, ran)))
        glob = parse_glob(glob_path.read_text("utf-8", "replace")) if glob_path.exists() else []
        absent: dict[str, str] = {}
        while True:
            audit = Audit(source, glob, absent)
            if not audit.entries:
                found = Message("error", None, "no theorem, lemma or definition to check")
                return Verdict(item.id, "coq", "failed", (*messages, found))
            (work / AUDIT_FILE).write_text(audit.text(), encoding="utf-8")
            ran = await self._coqc(work, ["-noglob", AUDIT_FILE], deadline)
            if ran.timed_out:
                return _timeout(item, timeout_s)
            missing = audit.missing(ran)
            if missing is None:
                return audit.judge(item.id, ran, work, self._allowlist, messages)
            # Each round drops one missing declaration, so this ends.
            absent[missing[0]] = missing[1]

    async def _coqc(self, work: Path, args: list[str], deadline: float) -> Ran:
        # -Q . "" makes the item the library Top, so its names print as Top.<name>.
        argv = [self._coqc_path, "-q", "-Q", ".", "", *args]
        return await run(argv, cwd=str(work), timeout_s=deadline - time.monotonic())


def _timeout(item: ProofItem, timeout_s: float) -> Verdict:
    text = f"coqc did not finish within the per-item timeout ({timeout_s:g} s) and was killed"
    return Verdict(item.id, "coq", "timeout", (Message("error", None, text),))


def _source_messages(ran: Ran) -> list[Message]:
    """The item's own diagnostics; ones located in another file (via Load) lose their line."""
    messages = []
    for file, message in located_messages(ran.stderr):
        if file is not None and Path(file).name != SOURCE_FILE:
            message = Message(message.severity, None, f"{file}: {message.text}")
        messages.append(message)
    return messages


def _with_error(messages: list[Message], ran: Ran) -> list[Message]:
    """Failed compiles always carry an error, even if coqc's output was not in a known form."""
    if any(m.severity == "error" for m in messages):
        return messages
    text = (ran.stderr.strip() or ran.stdout.strip())[-2000:]
    return [*messages, Message("error", None, text or f"coqc exited with {ran.returncode}")]
