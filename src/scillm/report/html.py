"""The HTML report: one file, Plotly inlined (it opens offline), every chart from the run's
records. Text from the run (model names, error messages, ids) is HTML-escaped; the chart data
goes in as JSON that Plotly escapes for a ``<script>``."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any

from scillm._extras import require
from scillm.report.data import Run, TimeBins, money

__all__ = ["CHARTS", "render_html", "write_html"]

CHARTS = ("throughput", "concurrency", "latency", "retries", "tokens", "cost")
"""The ids of the chart ``<div>``s, in page order (the browser test looks for each)."""
LATENCY_BINS = 40

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.tiles{display:flex;flex-wrap:wrap;gap:.6rem}.tile{background:#f4f6fa;border-radius:6px;
padding:.5rem .9rem}.tile b{display:block;font-size:1.2rem}.chart{height:340px}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}td.msg{font-family:monospace;white-space:pre-wrap;
word-break:break-all;max-width:700px}.note{color:#666}
"""


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}},
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.25},
        **extra,
    }


def _figures(run: Run) -> dict[str, Any]:
    """The Plotly figures of ``run``, by chart id."""
    import plotly.graph_objects as go

    bins = TimeBins.of(run)
    x = bins.edges()
    seconds = f"seconds into the run (bins of {bins.width:g} s)"
    ok_ends = [t for t, ok in zip(run.end, run.ok, strict=True) if ok]
    failed_ends = [t for t, ok in zip(run.end, run.ok, strict=True) if not ok]
    figures: dict[str, Any] = {}
    figures["throughput"] = go.Figure(
        [
            go.Bar(x=x, y=bins.per_second(ok_ends), name="ok", marker_color="#4c78a8"),
            go.Bar(x=x, y=bins.per_second(failed_ends), name="failed", marker_color="#e45756"),
        ],
        _layout("Throughput: calls finished per second", seconds, "calls/s", barmode="stack"),
    )
    figures["concurrency"] = go.Figure(
        go.Scatter(
            x=x,
            y=bins.concurrency(run.start, run.end),
            mode="lines",
            line_shape="hv",
            name="in flight",
        ),
        _layout("Concurrency: calls in flight (average per bin)", seconds, "calls"),
    )
    figures["latency"] = _latency(run, go)
    figures["retries"] = go.Figure(
        [
            go.Bar(x=x, y=_per_bin(bins, run.end, run.rate_limited), name="429 responses"),
            go.Bar(x=x, y=_per_bin(bins, run.end, run.retries), name="retries"),
        ],
        _layout("429s and retries over time", seconds, "count per bin", barmode="group"),
    )
    names = sorted(run.models)
    totals = [run.models[name] for name in names]
    figures["tokens"] = go.Figure(
        [
            go.Bar(x=names, y=[m.tokens_in for m in totals], name="tokens in"),
            go.Bar(x=names, y=[m.tokens_out for m in totals], name="tokens out"),
        ],
        _layout("Tokens by model", "model", "tokens", barmode="group"),
    )
    labels = [_cost_label(m.cost_usd, m.calls, m.unknown_cost) for m in totals]
    figures["cost"] = go.Figure(
        go.Bar(
            x=names,
            y=[m.cost_usd for m in totals],
            text=labels,
            textposition="outside",
            cliponaxis=False,
            name="cost",
        ),
        _layout(
            "Cost by model (US dollars; calls of unknown price are not counted)", "model", "USD"
        ),
    )
    return figures


def _per_bin(bins: TimeBins, times: list[float], counts: list[int]) -> list[int]:
    sums = [0] * bins.count
    for t, n in zip(times, counts, strict=True):
        sums[bins.index(t)] += n
    return sums


def _latency(run: Run, go: Any) -> Any:
    low, high = min(run.latency_ms), max(run.latency_ms)
    width = max((high - low) / LATENCY_BINS, 1e-3)
    counts = [0] * LATENCY_BINS
    for value in run.latency_ms:
        counts[min(LATENCY_BINS - 1, int((value - low) / width))] += 1
    centres = [low + (i + 0.5) * width for i in range(LATENCY_BINS)]
    figure = go.Figure(
        go.Bar(x=centres, y=counts, width=width, name="calls", marker_color="#72b7b2"),
        _layout("Latency of a call (retries and waits included)", "milliseconds", "calls"),
    )
    for step, (name, mark) in enumerate(run.latency_percentiles().items()):
        if mark is not None:  # labels stacked: close percentiles stay readable
            figure.add_vline(
                x=mark,
                line_dash="dash",
                annotation={"text": f"{name} {mark:,.0f} ms", "yshift": -16 * step},
            )
    return figure


def _cost_label(usd: float, calls: int, unknown: int) -> str:
    if unknown == calls:
        return "unknown"
    return f"{money(usd)} + {unknown} unknown" if unknown else money(usd)


def _tiles(run: Run) -> str:
    summary = run.summary()
    p = summary["latency_ms"]
    cost = summary["cost_usd"]
    cost_text = "unknown" if cost is None else money(cost)
    if cost is not None and summary["calls_of_unknown_cost"]:
        cost_text += f" (+{summary['calls_of_unknown_cost']:,} unknown)"
    rate = summary["calls_per_s"]
    tiles = [
        ("rows", f"{summary['rows']:,}"),
        ("calls", f"{summary['calls']:,}"),
        ("failed rows", f"{summary['failed_rows']:,}"),
        ("wall time", f"{summary['span_s']:,.1f} s"),
        ("calls/s", "-" if rate is None else f"{rate:,.1f}"),
        ("p50 / p95 / p99", " / ".join("-" if p[k] is None else f"{p[k]:,.0f}" for k in p) + " ms"),
        ("tokens in / out", f"{summary['tokens_in']:,} / {summary['tokens_out']:,}"),
        ("cost", cost_text),
        ("429s / retries", f"{summary['rate_limited']:,} / {summary['retries']:,}"),
        ("cache hits", f"{summary['cache_hits']:,}"),
    ]
    cells = "".join(
        f'<div class="tile">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in tiles
    )
    return f'<div class="tiles">{cells}</div>'


def _errors(run: Run) -> str:
    if not run.errors:
        return '<p class="note">No row failed.</p>'
    rows = []
    for kind, count in run.errors.most_common():
        examples = "\n".join(f"{i}: {m}" for i, m in run.examples.get(kind, []))
        rows.append(
            f"<tr><td>{html.escape(kind)}</td><td>{count:,}</td>"
            f'<td class="msg">{html.escape(examples)}</td></tr>'
        )
    head = "<tr><th>error type</th><th>rows</th><th>examples (id: message)</th></tr>"
    return f'<table id="errors">{head}{"".join(rows)}</table>'


def _config(run: Run) -> str:
    items: dict[str, Any] = {"file": run.path, "record sources": dict(run.sources)}
    items["deployments"] = dict(run.deployments.most_common(20))
    items.update(run.config)
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in items.items()
    )
    return f'<table id="config">{rows}</table>'


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def render_html(run: Run) -> str:
    """The report of ``run`` as one HTML document (Plotly's JavaScript included)."""
    require("plotly", extra="report", feature="scillm report's HTML")
    import plotly.io as pio
    import plotly.offline

    title = f"scillm report: {os.path.basename(run.path)}"
    parts = [f"<h1>{html.escape(title)}</h1>", _tiles(run)]
    if run.calls:
        for chart_id, figure in _figures(run).items():
            div = pio.to_html(
                figure,
                full_html=False,
                include_plotlyjs=False,
                div_id=chart_id,
                default_height="340px",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<section class="chart-box">{div}</section>')
    else:
        parts.append('<p class="note">No call has a record with a time: nothing to plot.</p>')
    parts += ["<h2>Errors</h2>", _errors(run), "<h2>Configuration</h2>", _config(run)]
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    parts.append(f'<p class="note">Made by scillm report on {html.escape(made)}.</p>')
    script = plotly.offline.get_plotlyjs()
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{script}</script></head><body>'
        + "\n".join(parts)
        + "</body></html>"
    )


def write_html(run: Run, out: str | Path) -> Path:
    """Write the report of ``run`` to ``out`` (replacing it whole: a reader never sees half)."""
    out = Path(out)
    text = render_html(run)
    partial = out.with_name(out.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)
    return out
