"""Provider warm-ups: one tiny call per model, a results JSON, a stamp only on full success.

    report = run_warmup(targets, api_base=None, api_key=None, timeout=60, concurrency=4)
    report.as_dict()   # {"ok": bool, "results": [{"model", "ok", "elapsed_ms", "content"|"error"}]}
    report.exit_code(strict=False)

``ok`` is true only when every model answered. Exit status: 1 when any model failed under
``strict`` (``--strict`` or ``STRICT_WARMUPS=1``), and without it only when every model failed
(a partly warm pool is still usable, and the failures are in the results); else 0. The stamp
(``--stamp FILE``) is written only when every model answered, and an old one is removed
otherwise: a stamp always means "the latest warm-up succeeded" (the original stamped even
when every model had failed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scillm import _sync
from scillm.ops.probe import ProbeResult, probe_all
from scillm.ops.targets import Target
from scillm.progress import ProgressTask, track

__all__ = ["WarmupReport", "run_warmup", "update_stamp", "write_json"]


@dataclass(frozen=True)
class WarmupReport:
    """The results of one warm-up, in the order the models were given."""

    results: list[ProbeResult]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> int:
        return sum(not result.ok for result in self.results)

    def exit_code(self, strict: bool) -> int:
        """1 when any model failed under ``strict``, or every model failed; else 0."""
        if strict:
            return 0 if self.ok else 1
        return 1 if self.failed == len(self.results) else 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "results": [result.as_dict() for result in self.results]}


def run_warmup(
    targets: list[Target],
    *,
    api_base: str | None,
    api_key: str | None,
    timeout: float,
    concurrency: int,
    progress: bool = False,
) -> WarmupReport:
    """Ping every target (see :func:`scillm.ops.probe.probe_all`); ``progress`` shows the
    models answered so far on stderr (:mod:`scillm.progress`)."""
    with track("warmup", len(targets), unit="models", counts=("failed",), enabled=progress) as bar:
        results = _sync.run(
            probe_all(
                targets,
                api_base=api_base,
                api_key=api_key,
                timeout=timeout,
                concurrency=concurrency,
                on_result=lambda result: _tally(bar, result),
            )
        )
    return WarmupReport(results)


def _tally(bar: ProgressTask, result: ProbeResult) -> None:
    bar.advance()
    bar.count("failed", not result.ok)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, replacing ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def update_stamp(path: Path, report: WarmupReport) -> bool:
    """Write the success stamp when every model answered, else remove an old one; whether a
    stamp was written."""
    if not report.ok:
        path.unlink(missing_ok=True)
        return False
    stamp = {
        "ok": True,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": [result.as_dict()["model"] for result in report.results],
    }
    write_json(path, stamp)
    return True
