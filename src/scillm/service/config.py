"""How a service is exposed: address, token, body cap, allowed hosts and CORS origins.

Precedence is the project's one rule (explicit argument > environment > default). For a
service NAME (``agent``, ``codex-sidecar``...) the variables are ``SCILLM_<NAME>_HOST``,
``_PORT`` and ``_TOKEN`` (``-`` becomes ``_``), then the names a service documented before
(``legacy``), then the shared ``SCILLM_SERVICE_TOKEN``; every service reads
``SCILLM_MAX_BODY_BYTES``, ``SCILLM_ALLOWED_HOSTS`` and ``SCILLM_CORS_ORIGINS`` (comma-separated).

A service bound beyond loopback always has a token: when none is configured one is generated
and printed at start (as Jupyter does). ``token=""`` means "explicitly none" and is refused off
loopback.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, replace
from typing import Any

from scillm._config import Source, resolve

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "LOOPBACK_HOSTS",
    "ServiceConfig",
    "is_loopback",
    "prefix",
    "token_names",
]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prefix(service: str) -> str:
    """``SCILLM_<NAME>_`` for a service name (``codex-sidecar`` → ``SCILLM_CODEX_SIDECAR_``)."""
    return "SCILLM_" + service.upper().replace("-", "_") + "_"


def token_names(service: str, legacy: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The variables a service's token is read from, in order (the service and its clients)."""
    return (prefix(service) + "TOKEN", *(legacy or {}).get("token", ()), "SCILLM_SERVICE_TOKEN")


def _names(raw: str, name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _size(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r} is not a size: use a positive number of bytes")
    return value


@dataclass(frozen=True)
class ServiceConfig:
    """A service's door; build with :meth:`from_env`, check with :meth:`secured`."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    token_generated: bool = False

    @classmethod
    def from_env(
        cls,
        service: str,
        *,
        legacy: dict[str, tuple[str, ...]] | None = None,
        **given: Any,
    ) -> ServiceConfig:
        """The config of ``service`` from ``given`` (None = unset), the environment, defaults
        (the port: the service's in :data:`~scillm.service.catalog.SERVICES`, else 0).

        ``legacy`` maps a field to older variable names tried after ``SCILLM_<NAME>_<FIELD>``.
        """
        old = legacy or {}

        def source(field: str, kind: Any, *shared: str) -> Source:
            return (kind, prefix(service) + field.upper(), *old.get(field, ()), *shared)

        sources: dict[str, Source] = {
            "host": source("host", str),
            "port": source("port", int),
            "token": (str, *token_names(service, legacy)),
            "max_body_bytes": source("max_body_bytes", _size, "SCILLM_MAX_BODY_BYTES"),
            "allowed_hosts": source("allowed_hosts", _names, "SCILLM_ALLOWED_HOSTS"),
            "cors_origins": source("cors_origins", _names, "SCILLM_CORS_ORIGINS"),
        }
        unknown = set(given) - set(sources)
        if unknown:
            raise TypeError(f"unknown service setting(s): {', '.join(sorted(unknown))}")
        values = resolve(given, sources)
        if "port" not in values:
            from scillm.service.catalog import SERVICES

            spec = SERVICES.get(service)
            values["port"] = spec.port if spec is not None else 0
        if values.get("max_body_bytes") is not None and values["max_body_bytes"] < 1:
            raise ValueError("--max-body-bytes must be at least 1")
        return cls(**{k: v for k, v in values.items() if v is not None})

    @property
    def loopback(self) -> bool:
        """Whether the service listens on loopback only."""
        return is_loopback(self.host)

    def secured(self) -> ServiceConfig:
        """This config, made safe to serve: off loopback a token is required (generated when
        none is set; ``token=""`` is refused with a ValueError that says what to do)."""
        if self.loopback:
            return replace(self, token=self.token or None)
        if self.token == "":
            raise ValueError(
                f"refusing to serve on {self.host} without a token: anyone who can reach it "
                "could run code and spend credit; set --token (or SCILLM_SERVICE_TOKEN), or "
                "bind to 127.0.0.1"
            )
        if self.token is None:
            return replace(self, token=secrets.token_urlsafe(24), token_generated=True)
        return self

    def base_url(self, port: int | None = None) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"
