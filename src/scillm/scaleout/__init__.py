r"""Scale-out: ``scillm batch`` on a Ray cluster, one global rate limit in Redis, exactly-once.

    scillm batch in.jsonl -o out.jsonl --model openai/gpt-4o-mini \
        --executor ray --ray-address auto --workers 8 --limits redis://redis:6379/0 --rpm 5000

    from scillm.scaleout import run_batch
    summary = run_batch("in.jsonl", "out.jsonl", model=..., executor_options={"num_workers": 8})

The driver cuts the input into byte-range shards; Ray Core async actors pull them, each running
the batch engine with its own Router; every attempt passes one :class:`Limiter` (Redis GCRA on
the server's clock); each shard attempt writes its own part file and the merge dedups them into
the output. The code lives in :mod:`scillm.batch.cluster` and :mod:`scillm.batch.limits`; this
module is its public face. Needs ``pip install 'scillm[ray]'``. See docs/scaleout.md.
"""

from scillm.batch.cluster.api import run_batch
from scillm.batch.limits.backends import make_limiter
from scillm.batch.limits.base import Limiter, Rates, namespace

__all__ = ["Limiter", "Rates", "make_limiter", "namespace", "run_batch"]
