"""A warm ``coqtop`` that runs scillm's audit files as a fresh ``coqc`` would.

The fresh audit (:mod:`scillm.certainly.coq`) is a coqc run of a file scillm writes itself
(``Require Top.``, ``Print Assumptions``, ``Print``, ``Locate``), in a new process that first
loads the libraries the item's compiled ``Top.vo`` needs. Most of its time is that loading.
:class:`CoqTop` keeps one sandboxed ``coqtop -emacs`` per set of libraries: started once with
``Require <libraries>.`` (loaded, not imported: what ``Require Top.`` does to them), it records
that state and, before every run, goes back to it with ``BackTo``. ``BackTo`` restores Coq's
whole state (every option, declaration, notation, hint, loaded library and open proof), so
nothing the previous item's ``Top.vo`` carried survives into the next; ``Require Top.`` then
reads the new ``Top.vo`` from disk, opaque proofs included.

The untrusted input never reaches this process as text: it is compiled by a fresh coqc first
and arrives only as ``Top.vo``. Sentences are sent one at a time; the first error stops the
run and is reported as coqc would (``File "./src/Audit.v", line N``). Anything unexpected —
an ``Anomaly``, a state that ``BackTo`` did not reach, the process ending — makes :meth:`run`
return None: the caller drops the process and runs that file with a fresh coqc instead.
A run past its deadline kills the process.

The compiled item still speaks on coqtop's stderr: an error can print its terms (a string
literal reads ``"<prompt>Audit < 7 |Audit| 0 < </prompt>"`` once ``String`` is imported), and
``-emacs`` escapes nothing. So an answer is never delimited by a prompt alone: each sentence
is followed by a sync sentence naming a fresh random reference (``Check scillm_sync_<nonce>.``),
which fails with an error echoing that name. The answer is everything before the echo; it must
hold exactly one prompt, at its end, directly followed by the echo, and the sync's own answer
must be exactly the expected error and the same prompt — or the process is dropped. Whether a
sentence failed is read from the prompt's state number (a success advances it, an error does
not), not from text the item may have written; the error text is only the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from scillm.certainly.process import Ran, Toolchain
from scillm.certainly.warm import WarmProcess

__all__ = ["CoqTop", "sentences"]

# A prompt: the proof (or "Coq"), the state number, the open proofs, the proof depth.
_PROMPT = rb"<prompt>[^ <>|]+ < (?P<state>\d+) \|[^<>|]*\| \d+ < </prompt>"
_PROMPT_END = b"</prompt>"
_ERROR = re.compile(r"^Error:[ \t]*\n?", re.MULTILINE)
_SYNC = "scillm_sync_"


class CoqTop(WarmProcess):
    """One sandboxed ``coqtop`` with ``libraries`` loaded; :meth:`run` runs one audit file."""

    def __init__(self, libraries: tuple[str, ...]) -> None:
        super().__init__()
        self.libraries = libraries
        self._marker = 0
        self._state = 0  # the state number of coqtop's last prompt

    @classmethod
    async def start(
        cls,
        toolchain: Toolchain,
        libraries: tuple[str, ...],
        flags: Sequence[str],
        memory_mb: int,
        timeout_s: float,
    ) -> CoqTop | None:
        """Start coqtop and load ``libraries``; None if that fails (the caller runs coqc)."""
        top = cls(libraries)
        try:
            await top._spawn(toolchain, flags, memory_mb, {"src/.keep": b""}, discard="stdout")
            deadline = time.monotonic() + timeout_s
            first = _prompted(await top._read_until(_PROMPT_END, deadline))
            top._state = first.state
            # Quiet, as coqc is: no "Fetching opaque proofs" notes in the Redirect outputs.
            setup = ["Set Silent."]
            if libraries:
                setup.append(f"Require {' '.join(libraries)}.")
            for sentence in setup:
                before = top._state
                answer = await top._send(sentence, deadline)
                if answer.state <= before:
                    raise _Broken
            top._marker = top._state
            return top
        except (_Broken, OSError, TimeoutError):
            await top.close()
            return None
        except BaseException:  # cancelled while starting: leave no process behind
            await top.close()
            raise

    async def run(self, file: str, text: str, compiled: bytes, deadline: float) -> Ran | None:
        """Run ``text`` (the file ``src/<file>``) against the item's ``compiled`` ``Top.vo``.

        The same answer as ``coqc src/<file>`` on the errors scillm reads: exit status and
        the first error, located at its line. None: this process can no longer be trusted
        (closed; run the file fresh). Past ``deadline`` the process is killed: timed out.
        """
        self.runs += 1
        try:
            self._clean()
            self._install(compiled)
            back = await self._send(f"BackTo {self._marker}.", deadline)
            if back.state != self._marker:
                raise _Broken
            for number, line in enumerate(text.splitlines(), 1):
                for sentence in sentences(line):
                    if not sentence.endswith("."):
                        raise _Broken  # coqtop would wait for the rest of it
                    before = self._state
                    answer = await self._send(sentence, deadline)
                    if "Anomaly" in answer.text:
                        raise _Broken
                    if answer.state == before:  # an error leaves the state where it was
                        error = _problem(answer.text) or "the command failed"
                        located = f'File "./src/{file}", line {number}, characters 0-1:\n'
                        return Ran(1, "", f"{located}Error: {error}\n", False)
                    if answer.state < before:
                        raise _Broken  # only BackTo goes back
            return Ran(0, "", "", False)
        except TimeoutError:
            await self.close()
            return Ran(None, "", "", True)
        except (_Broken, OSError):
            self.broken = True
            await self.close()
            return None

    def _install(self, compiled: bytes) -> None:
        """Put the item's ``Top.vo`` where ``Require Top.`` finds it, never through a link the
        process may have planted (``src`` itself included)."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        src = os.open(self.path / "src", flags)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(".Top.vo.new", dir_fd=src)
            create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(".Top.vo.new", create, 0o644, dir_fd=src)
            with os.fdopen(fd, "wb") as handle:
                handle.write(compiled)
                if self._uid is not None:
                    os.fchown(handle.fileno(), self._uid, self._uid)
            os.replace(".Top.vo.new", "Top.vo", src_dir_fd=src, dst_dir_fd=src)
        finally:
            os.close(src)

    def _clean(self) -> None:
        """Remove what earlier runs wrote (their ``Redirect`` outputs)."""
        for entry in self.path.iterdir():
            if entry.name != "src" and (entry.is_file() or entry.is_symlink()):
                entry.unlink()

    async def _send(self, sentence: str, deadline: float) -> _Answer:
        """Send one sentence and read its answer, delimited by a sync sentence the item cannot
        forge (see the module docstring); :class:`_Broken` if anything is out of place."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise _Broken
        name = f"{_SYNC}{secrets.token_hex(8)}"
        proc.stdin.write(f"{sentence}\nCheck {name}.\n".encode())
        await proc.stdin.drain()
        # What coqtop prints is laid out at the item's printing width (it may set one), so
        # only the echoed input is matched literally; the rest allows any line breaks.
        echo = f"\n> Check {name}".encode()
        head = (await self._read_until(echo, deadline))[: -len(echo)]
        located = re.search(rb"Toplevel\s+input,\s+characters\s+6-(\d+):\Z", head)
        if located is None or int(located[1]) != 6 + len(name):
            raise _Broken
        answer = _prompted(head[: located.start()])
        tail = await self._read_until(_PROMPT_END, deadline)
        synced = re.fullmatch(
            rb"\.\n> +\^+\nError:\s+The\s+reference\s+"
            + name.encode()
            + rb"\s+was\s+not\s+found\s+in\s+the\s+current\s+environment\.\s*"
            + _PROMPT,
            tail,
        )
        if synced is None or int(synced["state"]) != answer.state:
            raise _Broken
        self._state = answer.state
        return answer

    async def _read_until(self, end: bytes, deadline: float) -> bytes:
        """coqtop's stderr up to and including ``end``; :class:`_Broken` at EOF or overlong."""
        proc = self._proc
        if proc is None or proc.stderr is None:
            raise _Broken
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            return await asyncio.wait_for(proc.stderr.readuntil(end), remaining)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as gone:
            raise _Broken from gone


@dataclass(frozen=True)
class _Answer:
    """What coqtop printed on stderr for one sentence, and the state number it then showed."""

    text: str
    state: int


class _Broken(Exception):
    """The process answered in a way a fresh coqc run would not have."""


def _prompted(data: bytes) -> _Answer:
    """Text that must end in coqtop's prompt and hold no other (else :class:`_Broken`)."""
    found = re.fullmatch(rb"(?P<text>.*)" + _PROMPT, data, re.DOTALL)
    if found is None or b"prompt>" in found["text"]:
        raise _Broken  # a second prompt, or text after the prompt: not coqtop's own answer
    return _Answer(found["text"].decode("utf-8", "replace"), int(found["state"]))


def _problem(text: str) -> str | None:
    """The error text coqtop printed before its prompt, as coqc would print it."""
    found = _ERROR.search(text)
    return None if found is None else text[found.end() :].strip()


def sentences(line: str) -> list[str]:
    """Split one line of scillm's own commands at sentence ends (a period then a space or
    the end of the line), never inside a ``"string"``."""
    found, start, quoted = [], 0, False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted and (index + 1 == len(line) or line[index + 1].isspace()):
            found.append(line[start : index + 1].strip())
            start = index + 1
    rest = line[start:].strip()
    return [s for s in (*found, rest) if s]
