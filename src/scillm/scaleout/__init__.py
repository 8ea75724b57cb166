r"""Scale-out: ``scillm batch`` on a Ray cluster, one global rate limit in Redis, exactly-once.

    scillm batch in.jsonl -o out.jsonl --model openai/gpt-4o-mini \
        --executor ray --ray-address auto --workers 8 --limits redis://redis:6379/0 --rpm 5000

The driver cuts the input into byte-range shards (:mod:`.shards`); Ray Core async actors
(:mod:`.worker`) pull them (:mod:`.driver`), each running the batch engine with its own Router;
every attempt passes one :class:`~scillm.scaleout.limits.Limiter` (Redis GCRA on the server's
clock, :mod:`.redis_gcra`); each shard attempt writes its own part file and the merge dedups them
into the output (:mod:`.parts`). Needs ``pip install 'scillm[ray]'``. See docs/scaleout.md.
"""

from typing import Any

from scillm.scaleout.limits import Limiter, Rates, make_limiter, namespace

__all__ = ["Limiter", "Rates", "make_limiter", "namespace", "run_batch"]


def __getattr__(name: str) -> Any:
    if name == "run_batch":  # lazily: scillm.batch.command imports this package
        from scillm.scaleout.api import run_batch

        return run_batch
    raise AttributeError(f"module 'scillm.scaleout' has no attribute {name!r}")
