"""The warm prover pool: idle :class:`~scillm.certainly.coqtop.CoqTop` processes, keyed by the
libraries they have loaded, lent to one item at a time.

A batch (one ``acheck`` call) owns its pool and closes it at the end. An item whose compiled
file needs libraries outside :data:`WARM_PREFIXES` (or whose process cannot start) gets no
warm process: its audit runs on fresh coqc processes, as before. A process is recycled after
``recycle_after`` items, after any anomaly (:meth:`CoqTop.run` returned None), after a
timeout, and when the item holding it was cancelled mid-run; at most ``max_idle`` wait.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from scillm.certainly.coqtop import CoqTop
from scillm.certainly.process import Toolchain

__all__ = ["RECYCLE_AFTER", "WARM_PREFIXES", "CoqTopPool"]

RECYCLE_AFTER = 50
# Libraries a warm process may hold loaded: Coq's standard library (Ltac2 ships with it).
WARM_PREFIXES = ("Coq.", "Ltac2.")


class CoqTopPool:
    """Warm audit processes for one batch; :meth:`lease` lends one, :meth:`aclose` ends all."""

    def __init__(
        self,
        toolchain: Toolchain,
        flags: Sequence[str],
        memory_mb: int,
        *,
        recycle_after: int = RECYCLE_AFTER,
        max_idle: int = 4,
    ) -> None:
        if recycle_after < 1 or max_idle < 0:
            raise ValueError("recycle_after must be at least 1 and max_idle at least 0")
        self._toolchain = toolchain
        self._flags = tuple(flags)
        self._memory_mb = memory_mb
        self._recycle_after = recycle_after
        self._max_idle = max_idle
        self._idle: list[CoqTop] = []
        self.started = 0  # processes started so far (for tests and the bench)
        self.dropped = 0  # processes closed because a run could not be trusted (CoqTop.broken)

    @asynccontextmanager
    async def lease(
        self, libraries: Sequence[str], deadline: float
    ) -> AsyncIterator[CoqTop | None]:
        """A warm process holding exactly ``libraries`` (None: run the audit fresh)."""
        wanted = tuple(libraries)
        if not all(name.startswith(WARM_PREFIXES) for name in wanted):
            yield None
            return
        for dead in [t for t in self._idle if not t.alive]:
            self._idle.remove(dead)
            await dead.close()
        top = next((t for t in self._idle if t.libraries == wanted), None)
        if top is not None:
            self._idle.remove(top)
        else:
            top = await CoqTop.start(
                self._toolchain,
                wanted,
                self._flags,
                self._memory_mb,
                deadline - time.monotonic(),
            )
            self.started += top is not None
        try:
            yield top
        except BaseException:
            if top is not None:
                await top.close()
            raise
        if top is not None:
            await self._give_back(top)

    @property
    def idle(self) -> tuple[CoqTop, ...]:
        """The processes waiting for an item, oldest first."""
        return tuple(self._idle)

    async def _give_back(self, top: CoqTop) -> None:
        self.dropped += top.broken
        if not top.alive or top.runs >= self._recycle_after:
            await top.close()
            return
        self._idle.append(top)
        while len(self._idle) > self._max_idle:
            await self._idle.pop(0).close()

    async def aclose(self) -> None:
        """Close every idle process (leased ones close when given back after this)."""
        self._max_idle = 0
        idle, self._idle = self._idle, []
        for top in idle:
            await top.close()
