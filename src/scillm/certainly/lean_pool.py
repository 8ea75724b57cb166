"""The warm Lean pool: idle :class:`~scillm.certainly.lean_repl.LeanRepl` processes, keyed by
the import header they have loaded, lent to one item at a time.

Used when a leanprover-community ``repl`` executable, built for the same Lean version, is given
(``SCILLM_LEAN_REPL``); without one every Lean item is a fresh ``lean`` run, as before. A batch
(one ``acheck`` call) owns its pool and closes it at the end. A process is recycled after
``recycle_after`` items, after any anomaly (:meth:`LeanRepl.run` returned None), after a
timeout, and when the item holding it was cancelled; at most ``max_idle`` wait.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import replace

from scillm._config import env
from scillm.certainly.lean_output import strip_comments
from scillm.certainly.lean_repl import LeanRepl
from scillm.certainly.process import Toolchain
from scillm.certainly.warm import RECYCLE_AFTER, SANDBOX_PATH, WarmPool

__all__ = [
    "RECYCLE_AFTER",
    "REPL_ENV",
    "LeanReplPool",
    "find_repl",
    "new_lean_pool",
    "split_header",
]

REPL_ENV = "SCILLM_LEAN_REPL"
_IMPORT = re.compile(r"import(?:[ \t]+[\w'.«»]+)+")
# What may only open a Lean file: in a command run from an environment it is an error.
_HEADER_ONLY = re.compile(r"^\s*(?:prelude|module|(?:public\s+|meta\s+)*import)\b", re.MULTILINE)


def split_header(text: str) -> tuple[tuple[str, ...], str] | None:
    """``text`` as (imported modules, the rest): the rest keeps its line numbers (the import
    lines become blank). None when the file's header is not plain leading ``import`` lines
    (then the item runs fresh)."""
    lines = text.split("\n")
    modules: list[str] = []
    start = 0
    while start < len(lines):
        stripped = lines[start].strip()
        if stripped and not _IMPORT.fullmatch(stripped):
            break
        modules += stripped.split()[1:]
        start += 1
    body = "\n" * start + "\n".join(lines[start:])
    if _HEADER_ONLY.search(strip_comments(body)):
        return None
    return tuple(modules), body


def find_repl(lean: Toolchain, configured: str | None = None) -> Toolchain | None:
    """The REPL from the argument or ``SCILLM_LEAN_REPL`` (None: not configured), set up to run
    in the sandbox beside ``lean``'s toolchain. Raises ValueError if it is not an executable."""
    path = configured or env(REPL_ENV)
    if not path:
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ValueError(
            f"{REPL_ENV}={path!r} is not an executable file; point it at the leanprover-community "
            "repl binary built for your Lean version (.lake/build/bin/repl), or unset it"
        )
    assert lean.path is not None
    real = os.path.realpath(path)
    prefix = os.path.dirname(os.path.dirname(lean.path))  # lean is <toolchain>/bin/lean
    extra = {
        "LEAN_SYSROOT": prefix,
        "PATH": f"{os.path.join(prefix, 'bin')}:{SANDBOX_PATH}",
    }
    return replace(
        lean,
        path=real,
        binds=tuple(dict.fromkeys((*lean.binds, os.path.dirname(real)))),
        env=(*lean.env, *extra.items()),
    )


class LeanReplPool(WarmPool[LeanRepl]):
    """Warm REPLs for one batch; :meth:`lease` lends one, :meth:`aclose` ends all."""

    def __init__(
        self,
        repl: Toolchain,
        memory_mb: int,
        *,
        recycle_after: int = RECYCLE_AFTER,
        max_idle: int = 4,
    ) -> None:
        super().__init__(recycle_after=recycle_after, max_idle=max_idle)
        self._repl = repl
        self._memory_mb = memory_mb

    @asynccontextmanager
    async def lease(
        self, header: tuple[str, ...], deadline: float
    ) -> AsyncIterator[LeanRepl | None]:
        """A warm REPL with exactly ``header`` imported (None: check the item fresh)."""

        def start() -> Awaitable[LeanRepl | None]:
            remaining = deadline - time.monotonic()
            return LeanRepl.start(self._repl, header, self._memory_mb, remaining)

        async with self._lease(header, start) as repl:
            yield repl


def new_lean_pool(
    lean: Toolchain,
    workers: int,
    memory_mb: int,
    *,
    repl_path: str | None = None,
    recycle_after: int = RECYCLE_AFTER,
) -> LeanReplPool | None:
    """A warm pool beside ``lean`` serving ``workers`` at once, None if no REPL is configured.
    Idle processes: two per worker (a few headers in turn)."""
    repl = find_repl(lean, repl_path)
    if repl is None:
        return None
    return LeanReplPool(repl, memory_mb, recycle_after=recycle_after, max_idle=2 * workers)
