"""scillm: fast, reproducible, resumable and verified LLM calls for science and engineering.

import scillm
resp = scillm.completion("local/smollm2", [{"role": "user", "content": "Say hi"}])
print(resp.choices[0].message.content)
"""

from scillm._client import acompletion, completion
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
from scillm.providers.registry import provider_names, register_provider
from scillm.router import (
    DeterminismWarning,
    ImagePolicy,
    RetryPolicy,
    Router,
    RouterParallelRequest,
    RouterResult,
)
from scillm.types import ChatCompletion, ChatCompletionChunk

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConnectionError",
    "ContentValidationError",
    "DeterminismWarning",
    "EngineUnavailable",
    "ImagePolicy",
    "ImagePolicyError",
    "NotFoundError",
    "RateLimitError",
    "RetryPolicy",
    "Router",
    "RouterParallelRequest",
    "RouterResult",
    "ScillmError",
    "ServerError",
    "TimeoutError",
    "UnknownProviderError",
    "__version__",
    "acompletion",
    "completion",
    "provider_names",
    "register_provider",
]
