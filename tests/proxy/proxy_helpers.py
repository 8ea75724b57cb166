"""A real gateway on 127.0.0.1 for the proxy tests: uvicorn in a thread, in front of the mock."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm.proxy.app import Gateway, create_app
from scillm.proxy.config import parse_config
from scillm.service import ServiceConfig, bind

MASTER = "sk-master-7f3a9c"
TEAM_A = "sk-team-a-51e2b0"
TEAM_B = "sk-team-b-9d04c7"


@dataclass
class Proxy:
    url: str
    gateway: Gateway

    @property
    def base_url(self) -> str:
        return self.url + "/v1"


def deployment(name: str, base: str, model: str = "mock-model", **extra: Any) -> dict[str, Any]:
    """One model_list entry for an OpenAI-compatible upstream at ``base``."""
    entry: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": f"openai/{model}", "api_base": base, "api_key": "upstream"},
    }
    if extra:
        entry["model_info"] = extra
    return entry


@contextlib.contextmanager
def running_proxy(config: dict[str, Any], usage_log: Path | None = None) -> Iterator[Proxy]:
    """Serve ``config`` (litellm's config.yaml as a dict) until the block ends."""
    import uvicorn

    gateway = Gateway(parse_config(config), str(usage_log) if usage_log else None)
    app = create_app(gateway, ServiceConfig(host="127.0.0.1"))
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        yield Proxy(f"http://127.0.0.1:{port}", gateway)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        gateway.close()
