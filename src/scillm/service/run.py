"""Bind first, announce after, then serve: how every service process starts.

    sock = bind("127.0.0.1", 8788)             # PortBusy (one line, with the fix) if taken
    run_service(app, config, "agent", sock)    # prints the URL only once it is listening

A supervisor may bind the socket itself and hand the file descriptor down (``fd=``): the
port stays held across the child's restarts.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

from scillm.service.config import ServiceConfig

__all__ = ["PortBusy", "announce", "bind", "run_service"]


class PortBusy(OSError):
    """The port cannot be bound; the message names it and what to do."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 = a free port); :class:`PortBusy` if not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortBusy(
            f"cannot listen on {host!r}: {exc.strerror}; use an address "
            "of this machine, e.g. --host 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(
                f"port {port} on {host} is already in use: stop what listens there "
                f"(ss -ltnp 'sport = :{port}') or choose another with --port"
            ) from None
        raise PortBusy(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def announce(name: str, config: ServiceConfig, port: int) -> None:
    """One line on stderr once the service listens (and its token, when it was generated)."""
    print(f"scillm {name} on {config.base_url(port)} (Ctrl-C to stop)", file=sys.stderr)
    if config.token_generated:
        print(
            f"  token: {config.token}  (send 'Authorization: Bearer <token>'; set --token "
            "or SCILLM_SERVICE_TOKEN to choose it)",
            file=sys.stderr,
        )
    sys.stderr.flush()


def run_service(
    app: Any,
    config: ServiceConfig,
    name: str,
    sock: socket.socket | None = None,
    *,
    fd: int | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: on ``sock``, on an inherited ``fd``, or on a socket
    bound here from ``config`` (raises :class:`PortBusy` before printing anything)."""
    import uvicorn

    if sock is None:
        sock = socket.socket(fileno=fd) if fd is not None else bind(config.host, config.port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    announce(name, config, port)
    server.run(sockets=[sock])
