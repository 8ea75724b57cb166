"""``scillm.contrib.batch``: the original's documented module, re-exporting :mod:`scillm.batch`."""

from scillm.batch import (
    AsyncTokenBucket,
    JsonlCheckpoint,
    TokenBucket,
    run_batch,
    token_bucket_from_env,
)

__all__ = [
    "AsyncTokenBucket",
    "JsonlCheckpoint",
    "TokenBucket",
    "run_batch",
    "token_bucket_from_env",
]
