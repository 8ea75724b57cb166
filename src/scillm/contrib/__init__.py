"""The original's ``scillm.contrib`` names, kept so code written for it runs unchanged.

    from scillm.contrib import JsonlCheckpoint, TokenBucket        # or: scillm.contrib.batch

New code can import the same objects from :mod:`scillm.batch`.
"""

from scillm.contrib import batch
from scillm.contrib.batch import (
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
    "batch",
    "run_batch",
    "token_bucket_from_env",
]
