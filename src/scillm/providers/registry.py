"""Model strings → providers.

``"<prefix>/<model>"`` picks the provider registered under ``prefix`` and hands it ``<model>``
(``openai/org/model`` → model ``org/model``; ``ollama/qwen2.5:7b`` keeps its colon).
A bare provider name (``"codeworld"``) is that provider with the name as its model.
``custom_llm_provider=`` names the provider explicitly; the model string is then used whole,
minus a leading ``<provider>/``. ``litellm/<litellm model>`` forces the litellm backend, and any
other string goes to litellm when it is installed.

Third parties add a provider with :func:`register_provider` (its replies are checked: a
provider returning None is an APIError, never a None reply) or, for a litellm ``CustomLLM``
handler, :func:`register_custom_provider`.

The engine and agent providers are on by default and can be switched off, each by a flag read
when a model string is resolved (``SCILLM_`` before ``LITELLM_``; ``0``/``false`` is off):

    codex-agent (and its aliases)   SCILLM_ENABLE_CODEX_AGENT
    mini-agent                      SCILLM_ENABLE_MINI_AGENT
    codeworld                       SCILLM_ENABLE_CODEWORLD
    certainly, lean4                SCILLM_ENABLE_CERTAINLY, SCILLM_ENABLE_LEAN4 (one engine:
                                    the name's own flag first, then the other)

A switched-off name raises :class:`UnknownProviderError` naming the variable.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import TypeVar

from scillm._config import env, env_flag, twins
from scillm.errors import UnknownProviderError
from scillm.providers.base import Provider
from scillm.providers.catalog import CODEX_AGENT, OLLAMA, OPENAI_COMPATIBLE
from scillm.providers.codex_agent import CodexAgent
from scillm.providers.custom_llm import CheckedProvider, CustomLLMProvider
from scillm.providers.litellm_backend import INSTALL_HINT, LitellmBackend, litellm_installed
from scillm.providers.local import LocalModel
from scillm.providers.openai_compat import OpenAICompatible

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_ENV",
    "ENABLE_FLAGS",
    "default_model",
    "enable_flags",
    "provider_names",
    "register_custom_provider",
    "register_provider",
    "resolve",
]

DEFAULT_MODEL = "local/smollm2"
DEFAULT_MODEL_ENV = (
    "SCILLM_DEFAULT_MODEL",
    "SCILLM_MODEL",
    "LITELLM_DEFAULT_MODEL",
    "LITELLM_MODEL",
    "DEFAULT_LITELLM_MODEL",
)

ENABLE_FLAGS: dict[str, tuple[str, ...]] = {
    **{name: ("CODEX_AGENT",) for name in (CODEX_AGENT.name, *CODEX_AGENT.aliases)},
    "mini-agent": ("MINI_AGENT",),
    "codeworld": ("CODEWORLD",),
    "certainly": ("CERTAINLY", "LEAN4"),
    "lean4": ("LEAN4", "CERTAINLY"),
}
"""Provider name → the ``ENABLE_<suffix>`` flags that switch it, in the order they are read."""


@dataclass(slots=True)
class _Entry:
    """A registration: the provider (or its ``"module:attribute"``), and whether its replies
    are checked (providers registered from outside are; scillm's own are not)."""

    provider: Provider | str
    checked: bool


H = TypeVar("H")

_lock = threading.Lock()
_providers: dict[str, _Entry] = {}

MAX_RESOLVED = 1024
_resolved: dict[str, tuple[Provider, str]] = {}
"""Model strings already resolved (without ``custom_llm_provider``) to a provider no flag can
switch off, so most calls resolve with one dict read. Emptied by every registration."""
_generation = 0
"""Counts registrations: a resolution that raced with one is not kept."""


def _put(name: str, entry: _Entry, aliases: tuple[str, ...]) -> None:
    global _generation
    if not name or "/" in name:
        raise ValueError(f"provider name must be non-empty and contain no '/': {name!r}")
    with _lock:
        for key in (name, *aliases):
            _providers[key] = entry
        _resolved.clear()
        _generation += 1


def register_provider(
    name: str, provider: Provider | str, *, aliases: tuple[str, ...] = ()
) -> None:
    """Make ``provider`` answer model strings ``"<name>/..."`` and ``"<name>"`` (and aliases).

    ``provider`` may be ``"module:attribute"``: it is imported (and a class instantiated) on
    first use, so engines with heavy imports cost nothing until called. Registering an
    existing name replaces it, so a user can override a built-in. Its ``acompletion`` must
    return the reply (a dict becomes a ChatCompletion); None or a non-mapping is an APIError.
    """
    _put(name, _Entry(provider, checked=True), aliases)


def register_custom_provider(provider: str, handler_or_class: H | type[H]) -> H:
    """Register a litellm ``CustomLLM``-style handler (instance or class) as ``provider``.

    The original's signature: models ``"<provider>/<model>"`` or ``custom_llm_provider=
    "<provider>"`` then call its ``acompletion``/``completion`` (``astreaming``/``streaming``
    for ``stream=True``); see :mod:`scillm.providers.custom_llm`. Returns the handler instance.
    """
    handler: H = handler_or_class() if isinstance(handler_or_class, type) else handler_or_class
    _put(provider, _Entry(CustomLLMProvider(provider, handler), checked=False), ())
    return handler


def _get(key: str) -> Provider | None:
    """The provider registered under ``key``, importing a lazily registered one."""
    entry = _providers.get(key)
    if entry is None:
        return None
    if isinstance(entry.provider, str):
        module, _, attr = entry.provider.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        loaded: Provider = obj() if isinstance(obj, type) else obj
        with _lock:
            entry.provider = loaded
    provider = entry.provider
    if entry.checked and not isinstance(provider, CheckedProvider):
        with _lock:
            entry.provider = provider = CheckedProvider(provider, key)
    return provider


def _switched_off(key: str) -> str | None:
    """The variable that switches provider ``key`` off (None: it is on)."""
    if key not in ENABLE_FLAGS:
        return None
    names = enable_flags(key)
    if not names or env_flag(True, *names):
        return None
    return next(f"{name}={env(name)}" for name in names if env(name))


def enable_flags(key: str) -> tuple[str, ...]:
    """The variables that switch provider ``key`` on/off, in the order they are read."""
    return tuple(n for suffix in ENABLE_FLAGS.get(key, ()) for n in twins(f"ENABLE_{suffix}"))


def _register_builtins() -> None:
    def builtin(name: str, provider: Provider | str, aliases: tuple[str, ...] = ()) -> None:
        _put(name, _Entry(provider, checked=False), aliases)

    for spec in OPENAI_COMPATIBLE:
        builtin(spec.name, OpenAICompatible(spec), spec.aliases)
    builtin(OLLAMA.name, OpenAICompatible(OLLAMA), OLLAMA.aliases)
    codex = CodexAgent()
    builtin(codex.name, codex, codex.spec.aliases)
    builtin("local", LocalModel())
    builtin("litellm", LitellmBackend())
    # Engine bridges: imported on first use.
    builtin("codeworld", "scillm.codeworld.provider:CodeWorldProvider")
    builtin("certainly", "scillm.certainly.provider:CertainlyProvider", ("lean4",))
    builtin("mini-agent", "scillm.agent.provider:MiniAgentProvider")


_register_builtins()


def provider_names() -> list[str]:
    """Every registered prefix that is not switched off, sorted."""
    return sorted(k for k in _providers if _switched_off(k) is None)


def default_model() -> str:
    """The model used when none is given: the first set of ``SCILLM_DEFAULT_MODEL``,
    ``SCILLM_MODEL``, ``LITELLM_DEFAULT_MODEL``, ``LITELLM_MODEL``, ``DEFAULT_LITELLM_MODEL``,
    else the embedded ``local/smollm2``."""
    return env(*DEFAULT_MODEL_ENV) or DEFAULT_MODEL


def resolve(model: str, custom_llm_provider: str | None = None) -> tuple[Provider, str]:
    """The provider for ``model`` and the model name to send it."""
    if custom_llm_provider:
        provider = _enabled(custom_llm_provider)
        if provider is None:
            raise _unknown(f"custom_llm_provider={custom_llm_provider!r}")
        return provider, model.removeprefix(custom_llm_provider + "/")
    known = _resolved.get(model)
    if known is not None:
        return known
    generation = _generation
    prefix, sep, rest = model.partition("/")
    named = _enabled(prefix) if (rest or not sep) else None
    if named is not None:
        found = named, rest or model
        if prefix not in ENABLE_FLAGS:  # a switch is read on every call, so never kept
            _keep(model, found, generation)
        return found
    litellm = _get("litellm")
    if litellm is not None and litellm_installed():
        _keep(model, (litellm, model), generation)
        return litellm, model
    raise _unknown(f"model {model!r}")


def _keep(model: str, found: tuple[Provider, str], generation: int) -> None:
    """Remember ``model``'s resolution unless a registration came since it began."""
    with _lock:
        if generation == _generation:
            if len(_resolved) >= MAX_RESOLVED:
                _resolved.clear()
            _resolved[model] = found


def _enabled(key: str) -> Provider | None:
    """The provider registered under ``key``; UnknownProviderError when a flag switched it off
    (checked before a lazily registered engine is imported)."""
    flag = _switched_off(key) if key in ENABLE_FLAGS and key in _providers else None
    if flag is not None:
        raise UnknownProviderError(
            f"provider {key!r} is switched off by {flag}; unset it (scillm enables "
            f"{key} by default) or set it to 1 to use {key}/..."
        )
    return _get(key)


def _unknown(what: str) -> UnknownProviderError:
    return UnknownProviderError(
        f"no provider for {what}. Use one of these prefixes: "
        f"{', '.join(p + '/' for p in provider_names())} (e.g. 'openai/gpt-4o-mini', "
        f"'ollama/qwen2.5:7b', 'local/smollm2'), or for any other provider install the "
        f"litellm backend: {INSTALL_HINT}."
    )
