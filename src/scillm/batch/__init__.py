"""Batch runs that survive anything: a crash-safe JSONL checkpoint, fair token buckets, and
``run_batch``, resumable and lazy over millions of rows.

    from scillm.batch import AsyncTokenBucket, run_batch

    summary = await run_batch(rows, "id", solve, "out.jsonl", bucket=AsyncTokenBucket(5, 10))

The ``scillm batch`` command runs a JSONL file of requests through a Router the same way.
"""

from scillm.batch.buckets import AsyncTokenBucket, TokenBucket, token_bucket_from_env
from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.runner import run_batch
from scillm.batch.summary import BatchSummary

__all__ = [
    "AsyncTokenBucket",
    "BatchSummary",
    "JsonlCheckpoint",
    "TokenBucket",
    "run_batch",
    "token_bucket_from_env",
]
