"""The run's summary in the terminal (rich tables): for people who don't open browsers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scillm.report.data import Run, money

__all__ = ["print_summary"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def print_summary(run: Run, console: Console) -> None:
    """Headline figures, then calls/tokens/cost by model, then errors by type."""
    summary = run.summary()
    head = Table(title=f"scillm report: {run.path}", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column(justify="right")
    rate = summary["calls_per_s"]
    cost = summary["cost_usd"]
    unknown = summary["calls_of_unknown_cost"]
    cost_text = "unknown" if cost is None else money(cost)
    if cost is not None and unknown:
        cost_text += f" + {unknown:,} calls of unknown price"
    p = summary["latency_ms"]
    for name, value in (
        ("rows", f"{summary['rows']:,}"),
        ("calls", f"{summary['calls']:,}"),
        ("failed rows", f"{summary['failed_rows']:,}"),
        ("wall time", f"{summary['span_s']:,.1f} s"),
        ("calls/s", "-" if rate is None else f"{rate:,.1f}"),
        ("latency p50 / p95 / p99", " / ".join(_ms(p[k]) for k in ("p50", "p95", "p99"))),
        ("tokens in / out", f"{summary['tokens_in']:,} / {summary['tokens_out']:,}"),
        ("cost", cost_text),
        ("429s / retries", f"{summary['rate_limited']:,} / {summary['retries']:,}"),
        ("cache hits", f"{summary['cache_hits']:,}"),
    ):
        head.add_row(name, value)
    console.print(head)
    if run.models:
        models = Table(title="by model", title_justify="left")
        for column in ("model", "calls", "failed", "tokens in", "tokens out", "cost"):
            models.add_column(column, justify="left" if column == "model" else "right")
        for name, m in sorted(run.models.items()):
            price = "unknown" if m.unknown_cost == m.calls else money(m.cost_usd)
            if m.unknown_cost and m.unknown_cost < m.calls:
                price += f" + {m.unknown_cost:,} unknown"
            models.add_row(
                name,
                f"{m.calls:,}",
                f"{m.failed:,}",
                f"{m.tokens_in:,}",
                f"{m.tokens_out:,}",
                price,
            )
        console.print(models)
    if run.errors:
        errors = Table(title="errors", title_justify="left")
        errors.add_column("type")
        errors.add_column("rows", justify="right")
        errors.add_column("example")
        for kind, count in run.errors.most_common():
            example = run.examples.get(kind, [("", "")])[0]
            errors.add_row(kind, f"{count:,}", f"{example[0]}: {example[1][:120]}")
        console.print(errors)
