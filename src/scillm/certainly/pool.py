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
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager

from scillm.certainly.coqtop import CoqTop
from scillm.certainly.process import Toolchain
from scillm.certainly.warm import RECYCLE_AFTER, WarmPool

__all__ = ["RECYCLE_AFTER", "WARM_PREFIXES", "CoqTopPool"]

# Libraries a warm process may hold loaded: Coq's standard library (Ltac2 ships with it).
WARM_PREFIXES = ("Coq.", "Ltac2.")


class CoqTopPool(WarmPool[CoqTop]):
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
        super().__init__(recycle_after=recycle_after, max_idle=max_idle)
        self._toolchain = toolchain
        self._flags = tuple(flags)
        self._memory_mb = memory_mb

    @asynccontextmanager
    async def lease(
        self, libraries: Sequence[str], deadline: float
    ) -> AsyncIterator[CoqTop | None]:
        """A warm process holding exactly ``libraries`` (None: run the audit fresh)."""
        wanted = tuple(libraries)
        if not all(name.startswith(WARM_PREFIXES) for name in wanted):
            yield None
            return

        def start() -> Awaitable[CoqTop | None]:
            remaining = deadline - time.monotonic()
            return CoqTop.start(self._toolchain, wanted, self._flags, self._memory_mb, remaining)

        async with self._lease(wanted, start) as top:
            yield top
