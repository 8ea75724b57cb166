"""``scillm batch --executor ray``: the batch run on a Ray cluster (the public face is
:mod:`scillm.scaleout`).

The driver cuts the input into byte-range shards (:mod:`.shards`); Ray Core async actors
(:mod:`.worker`) pull them (:mod:`.driver`), each running the batch engine with its own Router
under the run's global :class:`~scillm.batch.limits.base.Limiter`; each shard attempt writes its
own part file and the merge dedups them into the output (:mod:`.parts`); :mod:`.api` is
``run_batch`` for files.
"""
