"""Test your LLM pipelines offline: a mock OpenAI-compatible server with fault injection.

    from scillm.testing import Fault, MockLLMServer, Reply

    with MockLLMServer(reply=lambda body: Reply("42")) as srv:
        srv.enqueue(Fault.rate_limit(retry_after=0.1), Fault.http(503))
        ...  # call srv.base_url with any OpenAI-compatible client
        assert len(srv.requests) == 3

``ScriptedModel`` serves a script of answers and faults, one per request, to any engine through
a Router (``model.router()``). Under pytest, the ``mock_llm`` fixture
(``scillm.testing.pytest_plugin``) yields a running server.
"""

from scillm.testing.batches import MockBatches
from scillm.testing.faults import Fault, FaultKind
from scillm.testing.ratelimit import RateLimit
from scillm.testing.replies import ECHO, Echo, Reply, ReplyFunc, ReplySpec, count_tokens
from scillm.testing.scripted import ScriptedModel, ScriptEntry, ScriptExhausted
from scillm.testing.server import MockLLMServer, MockStats, RecordedRequest, serve

__all__ = [
    "ECHO",
    "Echo",
    "Fault",
    "FaultKind",
    "MockBatches",
    "MockLLMServer",
    "MockStats",
    "RateLimit",
    "RecordedRequest",
    "Reply",
    "ReplyFunc",
    "ReplySpec",
    "ScriptEntry",
    "ScriptExhausted",
    "ScriptedModel",
    "count_tokens",
    "serve",
]
