"""``SpendGate``: no new call once a run's budget is spent, and the calls in flight still land.

    gate = SpendGate(meter)
    async with gate.call():          # raises BudgetReached once the meter says stop
        reply = await router.acompletion(...)
        meter.add(cost)              # count it before the gate lets the next one decide

Once ``meter.stop_reason`` is set, the next call to enter waits until the calls in flight have
finished (their rows are written on the same turn of the event loop) and then raises
:class:`~scillm.cost.BudgetReached`, which stops :func:`scillm.batch.engine.drive` cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from scillm.cost import BudgetReached, CostMeter

__all__ = ["SpendGate"]


class SpendGate:
    """Lets calls start while ``meter`` has budget left; see the module docstring."""

    def __init__(self, meter: CostMeter) -> None:
        self.meter = meter
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def check(self) -> None:
        """Raise BudgetReached (after the calls in flight finish) once the meter says stop."""
        reason = self.meter.stop_reason
        if reason is not None:
            await self._idle.wait()
            raise BudgetReached(reason)

    async def stop(self, reason: str) -> NoReturn:
        """Stop the run for ``reason`` (unless the meter already says why): raise BudgetReached
        once the calls in flight have finished."""
        self.meter.stop_reason = self.meter.stop_reason or reason
        await self._idle.wait()
        raise BudgetReached(self.meter.stop_reason)

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """One call, counted as in flight until the block ends."""
        await self.check()
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
