"""The Coq backend: compile with ``coqc``, then audit the compiled library from a clean file.

coqc exits 0 on files that end in ``Admitted``, use an ``Axiom`` or ``Abort`` the goal, so its
exit code is never the verdict. A theorem is proved only if it exists, rests on no Admitted proof,
no axiom outside the allow-list and no switched-off kernel check; a ``statement`` item's theorem
must also be syntactically the given statement; a ``code`` item may not redefine a name or
notation the standard library already has. ``coq_audit`` explains how each is established.

Coq 8.16's own guard checker is not trusted: after an audit that says proved, every
declaration the checked theorems reach is printed as a kernel term and its recursion checked
by scillm's structural rule (:mod:`scillm.certainly.coq_recursion`); the audit run prints the
checked declarations, and each further round prints the item's names those terms mention.

Every coqc run is sandboxed (:mod:`scillm.certainly.isolation`), after the source passed the
command screen (:mod:`scillm.certainly.screen`), and without the native compiler. With a warm
pool (:mod:`scillm.certainly.pool`) the audit and recursion files run in a warm sandboxed
``coqtop`` rolled back to a marker state before each (:mod:`scillm.certainly.coqtop`), or on a
fresh coqc where that is not possible; the compile is always a fresh coqc.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from scillm.certainly.coq_audit import AUDIT_FILE, Audit
from scillm.certainly.coq_output import (
    LIBRARY,
    located_messages,
    parse_glob,
    required_libraries,
)
from scillm.certainly.coq_recursion import PRINT_SETUP, read_printed
from scillm.certainly.coq_source import CoqSource, assemble, unseal
from scillm.certainly.coqtop import CoqTop
from scillm.certainly.isolation import WorkDir, read_private, work_dir
from scillm.certainly.items import ProofItem
from scillm.certainly.known_bugs import bugs_for
from scillm.certainly.pool import RECYCLE_AFTER, CoqTopPool
from scillm.certainly.process import (
    OUTPUT_LIMIT,
    Ran,
    Toolchain,
    find_toolchain,
    install_prefix,
)
from scillm.certainly.screen import screen_coq
from scillm.certainly.verdict import Message, Verdict, error_verdict

__all__ = ["COQC_ENV", "COQTOP_FLAGS", "CoqChecker", "find_coqc", "new_pool"]

COQC_ENV = "SCILLM_COQC"
INSTALL_HINT = "install Coq (Debian/Ubuntu: apt-get install coq) and put coqc on PATH"
MEMORY_MB = 4096
SOURCE_DIR = "src"  # the item's library lives here; the .glob lies outside, in the work dir
SOURCE_FILE = f"{LIBRARY}.v"
GLOB_FILE = f"{LIBRARY}.glob"
FINDLIB_CONF = "/etc/ocamlfind.conf"  # coqc reads it (via findlib) to locate its plugins
# Passed into the sandbox when set: where Coq finds libraries, plugins and findlib's config.
PASSED_ENV = ("COQPATH", "COQLIB", "OCAMLFIND_CONF", "OCAMLPATH")
RECURSION_FILE = "Recursion.v"
RECURSION_ROUNDS = 8  # rounds of "print what the printed terms mention"
# No native compiler: native_compute then runs as vm_compute (with a warning), so a proof never
# trusts OCaml-compiled code (nativenorm bugs, rocq#17871) and needs no compiler in the sandbox.
COQC_FLAGS = ("-q", "-w", "-deprecated-native-compiler-option", "-native-compiler", "no")
# The warm audit process: as coqc runs src/Audit.v (-Q src "" makes that the library Audit).
COQTOP_FLAGS = ("-emacs", *COQC_FLAGS, "-top", "Audit", "-Q", SOURCE_DIR, "")


async def find_coqc(configured: str | None = None) -> Toolchain:
    """coqc from the argument, ``SCILLM_COQC`` or PATH, with its version and sandbox needs."""
    found = await find_toolchain("coq", configured, COQC_ENV, "coqc", INSTALL_HINT)
    if not found.available or found.path is None:
        return found
    env = {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}
    binds = [install_prefix(found.path), env.get("OCAMLFIND_CONF", FINDLIB_CONF)]
    for name in ("COQPATH", "COQLIB", "OCAMLPATH"):
        binds += env.get(name, "").split(os.pathsep)
    kept = tuple(dict.fromkeys(os.path.realpath(b) for b in binds if b and os.path.exists(b)))
    return replace(found, binds=kept, env=tuple(env.items()))


def new_pool(
    toolchain: Toolchain, workers: int, *, recycle_after: int = RECYCLE_AFTER
) -> CoqTopPool | None:
    """A warm pool for ``toolchain``'s coqtop (next to its coqc) serving ``workers`` at once,
    None if there is no coqtop. Idle processes: two per worker (a few import sets in turn)."""
    assert toolchain.path is not None
    coqtop = os.path.join(os.path.dirname(toolchain.path), "coqtop")
    if not os.access(coqtop, os.X_OK):
        return None
    return CoqTopPool(
        replace(toolchain, path=coqtop),
        COQTOP_FLAGS,
        MEMORY_MB,
        recycle_after=recycle_after,
        max_idle=2 * workers,
    )


class CoqChecker:
    """Checks Coq items with one coqc; ``allowlist`` names axioms as ``Verdict.axioms`` does.

    With a ``pool`` the audit runs in a warm coqtop (:mod:`scillm.certainly.coqtop`) where the
    compiled item's libraries allow it; the compile is always a fresh coqc.
    """

    def __init__(
        self, toolchain: Toolchain, allowlist: frozenset[str], pool: CoqTopPool | None = None
    ) -> None:
        assert toolchain.path is not None
        self._pool = pool
        self._toolchain = toolchain
        self._version = toolchain.version
        self._known_bugs = bugs_for("coq", toolchain.version)
        self._allowlist = allowlist

    async def check(self, item: ProofItem, timeout_s: float) -> Verdict:
        """Compile and audit ``item`` in its own sandboxed work dir within ``timeout_s``."""
        started = time.monotonic()
        source = assemble(item)
        if isinstance(source, str):
            verdict = error_verdict(item.id, "coq", source)
        elif screened := screen_coq(source.text):
            verdict = Verdict(item.id, "coq", "failed", tuple(screened))
        else:
            source = unseal(source)
            files = {f"{SOURCE_DIR}/{SOURCE_FILE}": source.text}
            async with work_dir(self._toolchain, files, MEMORY_MB) as box:
                verdict = await self._check_in(box, item, source, timeout_s)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return replace(
            verdict,
            time_ms=elapsed_ms,
            backend_version=self._version,
            prover="Coq",
            known_bugs=self._known_bugs,
        )

    async def _check_in(
        self, box: WorkDir, item: ProofItem, source: CoqSource, timeout_s: float
    ) -> Verdict:
        deadline = time.monotonic() + timeout_s
        ran = await _coqc(box, ["-dump-glob", GLOB_FILE, f"{SOURCE_DIR}/{SOURCE_FILE}"], deadline)
        if ran.timed_out or ran.problem:
            return _unfinished(item, ran, timeout_s)
        messages = _source_messages(ran)
        if ran.returncode != 0:
            return Verdict(item.id, "coq", "failed", tuple(_with_error(messages, ran)))
        glob_text = read_private(box.path / GLOB_FILE) or ""
        glob, libraries = parse_glob(glob_text), required_libraries(glob_text)
        async with self._auditor(box, libraries, deadline) as auditor:
            absent: dict[str, str] = {}
            while True:
                audit = Audit(source, glob, absent, libraries)
                if not audit.entries:
                    found = Message("error", None, "no theorem, lemma or definition to check")
                    return Verdict(item.id, "coq", "failed", (*messages, found))
                ran, work = await auditor.run(AUDIT_FILE, audit.text(), deadline)
                if ran.timed_out or ran.problem:
                    return _unfinished(item, ran, timeout_s)
                missing = audit.missing(ran)
                if missing is None:
                    verdict = audit.judge(item.id, ran, work, self._allowlist, messages)
                    break
                # Each round drops one missing declaration, so this ends.
                absent[missing[0]] = missing[1]
            if verdict.status != "proved":
                return verdict
            lines = {
                e.qualified: audit.line_of(e) for e in audit.entries if e.qualified not in absent
            }
            printed = audit.printed(work, ran)
            unsafe = await _unsafe_recursion(
                auditor, printed, lines, audit.is_declared_axiom, deadline
            )
        if isinstance(unsafe, Ran):
            return _unfinished(item, unsafe, timeout_s)
        if unsafe:
            return replace(verdict, status="failed", messages=(*verdict.messages, *unsafe))
        return verdict

    @contextlib.asynccontextmanager
    async def _auditor(
        self, box: WorkDir, libraries: list[str], deadline: float
    ) -> AsyncIterator[_Auditor]:
        if self._pool is None:
            yield _Auditor(box, None)
            return
        needed = [name for name in libraries if not name.startswith(f"{LIBRARY}.")]
        async with self._pool.lease(needed, deadline) as top:
            yield _Auditor(box, top)


class _Auditor:
    """Runs scillm's audit files: in the warm process if there is one, else with fresh coqc."""

    def __init__(self, box: WorkDir, top: CoqTop | None) -> None:
        self._box = box
        self._top = top
        self._compiled: bytes | None = None

    async def run(self, file: str, text: str, deadline: float) -> tuple[Ran, Path]:
        """The run, and the directory its ``Redirect`` outputs are in."""
        top = self._top
        if top is not None and top.alive:
            if self._compiled is None:
                self._compiled = _read_bytes(self._box.path / SOURCE_DIR / f"{LIBRARY}.vo")
            if self._compiled is not None:
                ran = await top.run(file, text, self._compiled, deadline)
                if ran is not None:
                    return ran, top.path
        self._box.write(f"{SOURCE_DIR}/{file}", text)
        return await _coqc(self._box, ["-noglob", f"{SOURCE_DIR}/{file}"], deadline), self._box.path


def _read_bytes(path: Path) -> bytes | None:
    """A file coqc wrote, never through a link it may have planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


async def _unsafe_recursion(
    auditor: _Auditor,
    printed: dict[str, str | None],
    lines: dict[str, int],
    is_axiom: Callable[[str], bool],
    deadline: float,
) -> list[Message] | Ran:
    """Check the recursion of the declarations ``printed`` shows and of every name they reach.

    The audit printed the checked declarations; each further round prints the item's names
    the terms so far mention (:mod:`scillm.certainly.coq_recursion`). Returns the problems,
    with the line of the declaration where known, or the run that did not finish.
    """
    seen = set(printed)
    problems: list[tuple[str, str]] = []  # (the name printed, the problem)
    for _round in range(RECURSION_ROUNDS):
        found: list[str] = []
        for name, shown in printed.items():
            short = name.removeprefix(f"{LIBRARY}.")
            if shown is None:
                problems.append((name, f"in {short}: could not print it to check its recursion"))
                continue
            if len(shown.encode()) >= OUTPUT_LIMIT:  # cut off: the rest might hide a fixpoint
                problems.append((name, f"in {short}: too large to check its recursion"))
                continue
            reading = read_printed(name, shown, is_axiom(name))
            problems += [(name, problem) for problem in reading.problems]
            found += sorted(reading.references - seen)
        todo = list(dict.fromkeys(found))
        if not todo:
            break
        seen.update(todo)
        # Random names: the checked file ran in this directory and could have planted files.
        out = f"scillm_{secrets.token_hex(6)}_r"
        prints = [f'Redirect "{out}{i}" Print {name}.' for i, name in enumerate(todo)]
        text = "\n".join([f"Require {LIBRARY}.", f"{PRINT_SETUP} Set Printing All.", *prints])
        ran, work = await auditor.run(RECURSION_FILE, text + "\n", deadline)
        if ran.timed_out or ran.problem:
            return ran
        printed = {
            name: read_private(work / f"{out}{i}.out") if ran.returncode == 0 else None
            for i, name in enumerate(todo)
        }
    else:
        name = next(iter(printed))
        short = name.removeprefix(f"{LIBRARY}.")
        problems.append((name, f"in {short}: declarations nest too deep to check"))
    return [
        Message("error", lines.get(name), f"unsafe_recursion: {problem}")
        for name, problem in dict.fromkeys(problems)
    ]


async def _coqc(box: WorkDir, args: list[str], deadline: float) -> Ran:
    # -Q src "" makes the item the library Top, so its names print as Top.<name>.
    return await box.run([*COQC_FLAGS, "-Q", SOURCE_DIR, "", *args], deadline - time.monotonic())


def _unfinished(item: ProofItem, ran: Ran, timeout_s: float) -> Verdict:
    """A run that was killed at the deadline, or stopped by a limit: never proved."""
    if ran.timed_out:
        text = f"coqc did not finish within the per-item timeout ({timeout_s:g} s) and was killed"
        return Verdict(item.id, "coq", "timeout", (Message("error", None, text),))
    return Verdict(item.id, "coq", "failed", (Message("error", None, str(ran.problem)),))


def _source_messages(ran: Ran) -> list[Message]:
    """The item's own diagnostics; ones located in another file lose their line."""
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
