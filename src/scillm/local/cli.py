"""``scillm serve local``: the embedded model (SmolLM2 on llama.cpp) as a service on a fixed port.

llama.cpp's server is not behind scillm's door (no Host check, no body cap), so the door's
other half is set on llama.cpp itself: the token (``--token``, ``SCILLM_LOCAL_TOKEN`` or
``SCILLM_SERVICE_TOKEN``) becomes its API key, required on every route but ``/health``, and
CORS is off unless ``--cors-origin`` is given. Beyond loopback a token is required, and
generated and printed when none is set, as for every scillm service.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from types import FrameType

import typer

from scillm.errors import ScillmError
from scillm.service.options import CorsOpt, HostOpt, PortOpt, TokenOpt, door, usage_error

__all__ = ["register", "serve_local"]

POLL_S = 0.5


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``serve local``."""
    serve_app.command("local")(serve_local)


def serve_local(
    host: HostOpt = None,
    port: PortOpt = None,
    token: TokenOpt = None,
    cors_origin: CorsOpt = None,
) -> None:
    """Serve the embedded model (OpenAI-compatible, llama.cpp) until Ctrl-C; default port 8090."""
    from scillm.local.embedded import EmbeddedServer, LocalSettings
    from scillm.service.run import PortBusy, announce, bind

    config = door("local", host, port, token, None, None, cors_origin)
    try:
        bind(config.host, config.port).close()  # llama.cpp binds it again, a moment later
        settings = dataclasses.replace(
            LocalSettings.from_env(),
            host=config.host,
            port=config.port,
            api_key=config.token,
            cors_origins=",".join(config.cors_origins),
        )
    except (PortBusy, ScillmError) as exc:
        usage_error(str(exc))
    signal.signal(signal.SIGTERM, _interrupt)
    server = EmbeddedServer(settings)
    try:
        announce("local", config, int(server.base_url.rsplit(":", 1)[1]))
        while server.alive:
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        return
    finally:
        server.stop()
    typer.echo("error: the embedded model's llama.cpp process exited", err=True)
    raise typer.Exit(1)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
