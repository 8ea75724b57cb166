"""scillm: fast, reproducible, resumable and verified LLM calls for science and engineering.

import scillm
resp = scillm.completion("local/smollm2", [{"role": "user", "content": "Say hi"}])
print(resp.choices[0].message.content)
"""

from scillm._client import acompletion, completion
from scillm._version import __version__
from scillm.batch import (
    AsyncTokenBucket,
    BatchSummary,
    JsonlCheckpoint,
    TokenBucket,
    run_batch,
    token_bucket_from_env,
)
from scillm.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    BudgetExceeded,
    ConnectionError,
    ContentValidationError,
    EngineUnavailable,
    ImagePolicyError,
    NotFoundError,
    RateLimitError,
    ScillmError,
    ServerError,
    TimeoutError,
    UnknownProviderError,
)
from scillm.providers.registry import (
    provider_names,
    register_custom_provider,
    register_provider,
)
from scillm.router import (
    DeterminismWarning,
    ImagePolicy,
    RetryPolicy,
    Router,
    RouterParallelRequest,
    RouterResult,
)
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "APIError",
    "AsyncTokenBucket",
    "AuthenticationError",
    "BadRequestError",
    "BatchSummary",
    "BudgetExceeded",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConnectionError",
    "ContentValidationError",
    "DeterminismWarning",
    "EngineUnavailable",
    "ImagePolicy",
    "ImagePolicyError",
    "JsonlCheckpoint",
    "NotFoundError",
    "RateLimitError",
    "RetryPolicy",
    "Router",
    "RouterParallelRequest",
    "RouterResult",
    "ScillmError",
    "ServerError",
    "TimeoutError",
    "TokenBucket",
    "UnknownProviderError",
    "__version__",
    "acompletion",
    "completion",
    "provider_names",
    "register_custom_provider",
    "register_provider",
    "run_batch",
    "token_bucket_from_env",
]
