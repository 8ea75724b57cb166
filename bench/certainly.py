"""Certainly: Coq items checked per second for a batch of 50 small lemmas, with p50/p95 per item.

    cd /work/main && uv run python bench/certainly.py              # ~1-2 min on 2 cores
    uv run python bench/certainly.py --workers 2,4 --repeats 3 --modes fresh,warm

Each repeat checks the same 50 small lemmas (arithmetic by computation, induction with ``lia``,
lists, statement + proof items) with ``scillm.certainly.check`` at each worker count: every item
is compiled and audited by the real coqc in the sandbox, exactly as in production. Reported per
worker count: items/s (50 / wall time) and the p50/p95 of the per-item ``time_ms`` verdicts
carry (one item's compile + audit, including sandbox start-up and any wait for a free core), as
the median over repeats. Each mode runs in turn within every repeat: ``fresh`` (every coqc run a
new process) and ``warm`` (audits in the warm coqtop pool, :mod:`scillm.certainly.pool`); the
warm/fresh ratio of items/s is reported per worker count. A warm-up batch runs first
(toolchain probes, sandbox probe, page cache).

Results go to ``bench/results/certainly.json`` (``--out``). The machine is shared: the JSON
records the load average before and after each batch, so noisy runs can be spotted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from scillm.certainly import available_backends, check

N_ITEMS = 50
KINDS = ("computation", "lia", "lists", "induction")
OUT = Path(__file__).parent / "results" / "certainly.json"


def lemmas() -> list[dict[str, Any]]:
    """50 small, true Coq items of the four ``KINDS``, in turn."""
    items: list[dict[str, Any]] = []
    for i in range(N_ITEMS):
        kind = KINDS[i % len(KINDS)]
        if kind == "computation":
            code = f"Theorem t{i} : {i} + {i} = {2 * i}. Proof. reflexivity. Qed."
            items.append({"code": code})
        elif kind == "lia":
            items.append(
                {
                    "statement": f"forall n : nat, {i} * n + n = S {i} * n",
                    "proof": "Proof. intros; lia. Qed.",
                    "imports": ["Lia"],
                }
            )
        elif kind == "lists":
            code = (
                "Require Import List.\n"
                f"Theorem l{i} : forall l : list nat, length (l ++ {i} :: nil) = S (length l).\n"
                "Proof. intros l. rewrite app_length. simpl. rewrite PeanoNat.Nat.add_1_r. "
                "reflexivity. Qed."
            )
            items.append({"code": code})
        else:
            items.append(
                {
                    "statement": f"forall n : nat, n + {i} = {i} + n",
                    "proof": "Proof. intros n. induction n; simpl; auto. Qed.",
                }
            )
    return [
        {"id": f"{KINDS[i % len(KINDS)]}-{i}", "backend": "coq", **item}
        for i, item in enumerate(items)
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def batch(items: list[dict[str, Any]], workers: int, mode: str) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    verdicts = check(items, max_workers=workers, warm=mode == "warm")
    wall = time.perf_counter() - started
    times = [float(v.time_ms) for v in verdicts]
    proved = sum(v.proved for v in verdicts)
    if proved != len(items):
        failed = [v.to_dict() for v in verdicts if not v.proved][:3]
        sys.exit(f"not every lemma was proved: {json.dumps(failed, indent=1)}")
    return {
        "mode": mode,
        "workers": workers,
        "items": len(items),
        "proved": proved,
        "wall_s": round(wall, 3),
        "items_per_s": round(len(items) / wall, 2),
        "p50_ms": percentile(times, 0.5),
        "p95_ms": percentile(times, 0.95),
        "p50_ms_by_kind": {
            kind: percentile(
                [float(v.time_ms) for v in verdicts if str(v.id).startswith(kind)], 0.5
            )
            for kind in KINDS
        },
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="2", help="comma-separated worker counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="fresh,warm", help="comma-separated: fresh, warm")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    modes = args.modes.split(",")
    if not modes or not set(modes) <= {"fresh", "warm"}:
        sys.exit("error: --modes takes fresh, warm or both (comma-separated)")
    coq = available_backends()["coq"]
    if not coq["available"]:
        sys.exit(f"coq is not available: {coq['detail']}")
    items = lemmas()
    batch(items[:8], max(workers), modes[0])  # warm-up
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {
        (m, w): [] for m in modes for w in workers
    }
    for _ in range(args.repeats):
        for key in samples:  # interleaved, so background load drifts hit every mode and count
            samples[key].append(batch(items, key[1], key[0]))
            print(json.dumps(samples[key][-1]), flush=True)
    summary = [
        {
            "mode": mode,
            "workers": count,
            "items_per_s_median": statistics.median(s["items_per_s"] for s in runs),
            "p50_ms_median": statistics.median(s["p50_ms"] for s in runs),
            "p95_ms_median": statistics.median(s["p95_ms"] for s in runs),
            "p50_ms_by_kind_median": {
                kind: statistics.median(s["p50_ms_by_kind"][kind] for s in runs) for kind in KINDS
            },
            "samples": runs,
        }
        for (mode, count), runs in samples.items()
    ]
    speedups = {
        str(count): round(_rate(summary, "warm", count) / _rate(summary, "fresh", count), 2)
        for count in workers
        if {"warm", "fresh"} <= set(modes)
    }
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "coq": coq["version"],
            "isolation": coq["isolation"],
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "note": "shared machine: see each sample's load_before/load_after",
        },
        "parameters": {
            "items": N_ITEMS,
            "kinds": KINDS,
            "repeats": args.repeats,
            "workers": workers,
            "modes": modes,
        },
        "results": summary,
        "warm_over_fresh_items_per_s": speedups,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in summary:
        print(
            f"{row['mode']} workers={row['workers']}: {row['items_per_s_median']} items/s, "
            f"p50 {row['p50_ms_median']:.0f} ms, p95 {row['p95_ms_median']:.0f} ms per item"
        )
    for count, ratio in speedups.items():
        print(f"warm/fresh at workers={count}: {ratio}x items/s")


def _rate(summary: list[dict[str, Any]], mode: str, workers: int) -> float:
    row = next(r for r in summary if (r["mode"], r["workers"]) == (mode, workers))
    return float(row["items_per_s_median"])


if __name__ == "__main__":
    main()
