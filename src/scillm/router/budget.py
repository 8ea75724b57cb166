"""Request, token and cost budgets, enforced while scheduling (prompt + completion tokens count;
dollars from the replies' ``usage`` at :mod:`scillm.cost`'s prices)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scillm.cost import CostMeter, call_cost

__all__ = ["Budget"]


@dataclass
class Budget:
    """Limits for a Router; ``admit()`` before each call, ``record()`` after it.

    ``meter`` (a :class:`~scillm.cost.CostMeter` with a limit) adds a dollar budget: once its
    calls have cost the limit, or a reply's cost cannot be known, no new call is admitted.
    """

    max_tokens: int | None = None
    max_requests: int | None = None
    on_exhaust: Callable[[], Any] | None = None
    hard: bool = True
    requests: int = 0
    tokens: int = 0
    exhausted: str | None = None
    meter: CostMeter | None = None
    # Re-entrant: on_exhaust may look at the budget.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _priced: set[str] = field(default_factory=set, repr=False)

    def admit(self) -> str | None:
        """Count one request, or return why it may not run (``"max_requests"``/``"max_tokens"``
        /``"max_cost_usd"``)."""
        with self._lock:
            full = self.max_requests is not None and self.requests >= self.max_requests
            if self.exhausted is None and full:
                self._exhaust("max_requests")
            if self.exhausted is None and self.meter is not None and self.meter.stop_reason:
                self._exhaust("max_cost_usd")
            if self.exhausted is not None:
                return self.exhausted
            self.requests += 1
            return None

    def unpriced(self, models: Iterable[str | None]) -> str | None:
        """The first of ``models`` (price names) whose price is unknown, or None when all are
        known or there is no dollar budget."""
        if self.meter is None:
            return None
        for model in models:
            if model in self._priced:
                continue
            if model is None or call_cost(model, 1, 1) is None:
                return model or "a model"
            self._priced.add(model)
        return None

    def record(self, usage: Any, model: str | None = None) -> None:
        """Add a reply's prompt + completion tokens, and with a dollar budget their price at
        ``model``'s rates; past a limit the budget is spent."""
        if not isinstance(usage, dict):
            if self.meter is not None:
                with self._lock:
                    self.meter.add(None, f"{model or 'a model'} (a reply without usage)")
                    self._exhaust("max_cost_usd")
            return
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        with self._lock:
            self.tokens += tokens_in + tokens_out
            if self.meter is not None:
                price = call_cost(model, tokens_in, tokens_out)
                self.meter.add(None if price is None else price.usd, model)
                if self.meter.stop_reason is not None:
                    self._exhaust("max_cost_usd")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                self._exhaust("max_tokens")

    def message(self) -> str:
        """The BudgetExceeded message: ``BudgetExceeded: <limit>`` and, for dollars, why."""
        if self.exhausted == "max_cost_usd" and self.meter is not None:
            return (
                f"BudgetExceeded: max_cost_usd: {self.meter.stop_reason}; this Router sends no "
                "new call (router.set_budget(max_cost_usd=...) sets a new budget)"
            )
        return f"BudgetExceeded: {self.exhausted}"

    def _exhaust(self, reason: str) -> None:
        if self.exhausted is None:
            self.exhausted = reason
            if self.on_exhaust is not None:
                self.on_exhaust()
