"""Where the scenarios find the stack: each service's URL, its token, and starting what is down.

A service's URL comes from its environment variable (the first set of :data:`URL_ENV`) — an
*explicit* target — else the catalog's port on 127.0.0.1 (``scillm.service.catalog``). Before a
run, :meth:`Context.prepare` probes every service the chosen scenarios need: one that answers is
used as it is; one that does not is started (:func:`~scillm.scenarios.launch.launch`) unless its
URL was explicit or starting is off — then the scenarios that need it fail (the stack they were
pointed at is down), they do not skip. A service that cannot start for want of a tool or an extra
makes them skip with that reason. ``SCILLM_SERVICE_TOKEN`` is sent as the bearer token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scillm._config import env
from scillm.scenarios.checks import Failed, Skip, placeholder_free
from scillm.scenarios.http import Answer, Unreachable, request
from scillm.scenarios.launch import Stack, health_url, launch

__all__ = ["URL_ENV", "Context", "Target"]

URL_ENV: dict[str, tuple[str, ...]] = {
    "mock": ("MOCK_LLM_URL",),
    "agent": ("MINI_AGENT_URL",),
    "codex-sidecar": ("CODEX_SIDECAR_URL", "CODEX_AGENT_API_BASE"),
    "codeworld": ("CODEWORLD_URL", "CODEWORLD_BASE", "SCILLM_CODEWORLD_BASE"),
    "certainly": ("CERTAINLY_URL", "CERTAINLY_BRIDGE_BASE", "LEAN4_BRIDGE_BASE"),
}


@dataclass(frozen=True)
class Target:
    """A service's URL and where it came from (``explicit``: the variable that set it)."""

    name: str
    url: str
    explicit: str | None


def target(name: str) -> Target:
    """The URL of service ``name``: its variable's, else the catalog's port on 127.0.0.1; a
    ValueError (a usage error) for a URL that is not http(s)."""
    from scillm.service.catalog import service

    for var in URL_ENV.get(name, ()):
        value = placeholder_free(env(var))
        if value:
            if not value.startswith(("http://", "https://")):
                raise ValueError(
                    f"{var}={value!r} is not an http(s) URL, e.g. http://127.0.0.1:8887"
                )
            return Target(name, value.rstrip("/"), var)
    return Target(name, f"http://127.0.0.1:{service(name).port}", None)


class Context:
    """The stack one run talks to; use as a context manager (services started are stopped)."""

    def __init__(self, *, start: bool = True) -> None:
        self.start = start
        self.token = placeholder_free(env("SCILLM_SERVICE_TOKEN"))
        self.targets: dict[str, Target] = {}
        self.down: dict[str, str] = {}
        self.missing: dict[str, str] = {}
        self.started: list[str] = []
        self._stack: Stack | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every service this context started."""
        if self._stack is not None:
            self._stack.stop()
            self._stack = None

    def prepare(self, names: Iterable[str]) -> None:
        """Find (or start) every service in ``names``; see the module docstring."""
        absent: list[str] = []
        for name in dict.fromkeys(names):
            found = target(name)
            self.targets[name] = found
            with contextlib.suppress(Unreachable):
                request(health_url(name, found.url), token=self.token, timeout=10)
                continue
            if found.explicit:
                self.down[name] = (
                    f"nothing answers at {found.url} ({found.explicit}); start it with "
                    f"'scillm serve {name}' or unset {found.explicit} to use a local stack"
                )
            elif not self.start:
                self.down[name] = f"nothing answers at {found.url}; start it: scillm serve {name}"
            else:
                absent.append(name)
        if absent:
            known = {n: t.url for n, t in self.targets.items() if n not in absent}
            self._stack = launch(absent, known)
            for name, url in self._stack.urls.items():
                self.targets[name] = Target(name, url, None)
            self.started = list(self._stack.urls)
            self.missing.update(self._stack.missing)
            self.down.update(self._stack.failed)

    def url(self, name: str) -> str:
        """The base URL of service ``name``; :class:`Skip` or :class:`Failed` when it is not
        there (missing tool, or down)."""
        if name not in self.targets:
            self.prepare([name])
        if name in self.missing:
            raise Skip(self.missing[name])
        if name in self.down:
            raise Failed(self.down[name])
        return self.targets[name].url

    def call(self, name: str, path: str, body: Any = None, *, timeout: float = 120) -> Answer:
        """GET (or POST ``body`` to) ``path`` on service ``name``; :class:`Failed` if it does
        not answer."""
        url = self.url(name) + path
        try:
            return request(url, body, token=self.token, timeout=timeout)
        except Unreachable as exc:
            raise Failed(str(exc)) from None
