"""What a call cost, from a maintained price list: ``genai-prices`` (the ``report`` extra), or
litellm's cost map when only the ``litellm`` extra is installed.

    price = call_cost("openai/gpt-4o-mini", 1000, 100)   # Cost(usd=0.00021, source="genai-prices")
    price = call_cost("my-local-model", 1000, 100)       # None: unknown, never 0

Model names are scillm's ``provider/model`` (the provider part, when the price list knows it,
picks the provider's price) or a bare model name. Lookups are cached per model.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "BudgetReached",
    "Cost",
    "CostMeter",
    "budget_meter",
    "call_cost",
    "price_name",
    "pricing_available",
]

_PER_PROBE = 1_000_000
"""Tokens of the probe call that reads a model's per-token prices (exact in Decimal)."""


@dataclass(frozen=True, slots=True)
class Cost:
    """A call's price in US dollars, and the price list it came from."""

    usd: float
    source: str


Rates = tuple[float, float, str]
"""Dollars per input token, per output token, and the price list's name."""


def pricing_available() -> str | None:
    """The name of the price list scillm can use, or None when neither is installed."""
    if importlib.util.find_spec("genai_prices") is not None:
        return "genai-prices"
    if importlib.util.find_spec("litellm") is not None:
        return "litellm"
    return None


def _split(model: str) -> tuple[str | None, str]:
    provider, sep, name = model.partition("/")
    return (provider, name) if sep and name else (None, model)


def _genai_rates(model: str) -> Rates | None:
    from decimal import Decimal

    from genai_prices import Usage, calc_price

    provider, name = _split(model)
    usage = Usage(input_tokens=_PER_PROBE, output_tokens=_PER_PROBE)
    attempts: list[tuple[str, str | None]] = [(model, None)]
    if provider is not None:
        attempts = [(name, provider), (name, None), *attempts]
    for ref, provider_id in attempts:
        try:
            price = calc_price(usage, ref, provider_id=provider_id)
        except LookupError:
            continue
        per_in = Decimal(price.input_price) / _PER_PROBE
        per_out = Decimal(price.output_price) / _PER_PROBE
        return float(per_in), float(per_out), "genai-prices"
    return None


def _litellm_rates(model: str) -> Rates | None:
    from scillm.providers.litellm_backend import _import_litellm

    litellm = _import_litellm()  # with the packaged cost map: no download
    for name in (model, _split(model)[1]):
        info = litellm.model_cost.get(name)
        if isinstance(info, dict) and "input_cost_per_token" in info:
            per_in = float(info.get("input_cost_per_token") or 0.0)
            per_out = float(info.get("output_cost_per_token") or 0.0)
            return per_in, per_out, "litellm"
    return None


_LOOKUPS: dict[str, Callable[[str], Rates | None]] = {
    "genai-prices": _genai_rates,
    "litellm": _litellm_rates,
}


@functools.lru_cache(maxsize=512)
def _rates(model: str) -> Rates | None:
    source = pricing_available()
    return None if source is None else _LOOKUPS[source](model)


def price_name(provider: str | None, model: str | None) -> str | None:
    """The name to price a deployment's call by: ``provider/model`` (``model`` alone when it
    already starts with its provider, or there is none)."""
    if not model:
        return None
    if provider and not model.startswith(provider + "/"):
        return f"{provider}/{model}"
    return model


def call_cost(model: str | None, tokens_in: int, tokens_out: int) -> Cost | None:
    """The price of one call, or None when the model's price is unknown (or no list is
    installed): an unknown price is never reported as 0."""
    if not model:
        return None
    rates = _rates(model)
    if rates is None:
        return None
    per_in, per_out, source = rates
    return Cost(round(per_in * tokens_in + per_out * tokens_out, 10), source)


class BudgetReached(Exception):
    """A run's ``max_cost_usd`` was reached (or a price it needs is unknown): it stops here."""


class CostMeter:
    """What a run has spent: dollars of the calls with a known price, and the calls without one.

    With a ``limit`` the run stops once ``usd`` reaches it, or at the first call whose price is
    unknown (a budget cannot count what it cannot price); ``stop_reason`` says which. ``what``
    names the limit in that reason (``--max-cost``, ``max_cost_usd``).
    """

    def __init__(self, limit: float | None = None, what: str = "--max-cost") -> None:
        self.limit = limit
        self.what = what
        self.usd = 0.0
        self.priced = 0
        self.unknown = 0
        self.stop_reason: str | None = None

    def add(self, usd: float | None, model: str | None = None) -> None:
        """Count one call's cost (None: its price is unknown)."""
        if usd is None:
            self.unknown += 1
            if self.limit is not None and self.stop_reason is None:
                self.stop_reason = (
                    f"the price of {model or 'a model'} is unknown, so a {self.what} budget "
                    "cannot count it"
                )
            return
        self.usd += usd
        self.priced += 1
        self._check_spent()

    def set_totals(self, usd: float, priced: int, unknown: int) -> None:
        """Replace the counts with totals summed elsewhere (the workers of a Ray run); the
        budget is checked as :meth:`add` checks it. An unknown price's stop is the caller's
        to set: a total cannot name the model."""
        self.usd, self.priced, self.unknown = usd, priced, unknown
        self._check_spent()

    def _check_spent(self) -> None:
        if self.limit is not None and self.usd >= self.limit and self.stop_reason is None:
            self.stop_reason = f"the budget of ${self.limit:g} is spent (${self.usd:.4f})"

    def describe(self) -> str:
        """``$0.0123`` with ``+ N calls of unknown price`` when some were not priced."""
        if not self.priced and self.unknown:
            return f"unknown ({self.unknown:,} calls of unknown price)"
        extra = f" + {self.unknown:,} calls of unknown price" if self.unknown else ""
        return f"${self.usd:.4f}{extra}"


def budget_meter(limit: float | None, what: str) -> CostMeter:
    """A meter for a budget of ``limit`` dollars (None: count, never stop). ValueError, naming
    ``what``, for a limit that is no positive number or when no price list is installed."""
    if limit is None:
        return CostMeter(None, what)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        raise ValueError(f"{what} must be a positive number of dollars, got {limit!r}")
    if limit == float("inf"):
        raise ValueError(f"{what} must be a finite number of dollars (None: no budget)")
    if pricing_available() is None:
        raise ValueError(f"{what} needs a price list: pip install 'scillm[report]' (genai-prices)")
    return CostMeter(float(limit), what)
