"""Model strings → providers.

``"<prefix>/<model>"`` picks the provider registered under ``prefix`` and hands it ``<model>``
(``openai/org/model`` → model ``org/model``; ``ollama/qwen2.5:7b`` keeps its colon).
A bare provider name (``"codeworld"``) is that provider with the name as its model.
``custom_llm_provider=`` names the provider explicitly; the model string is then used whole,
minus a leading ``<provider>/``. ``litellm/<litellm model>`` forces the litellm backend, and any
other string goes to litellm when it is installed.

Third parties add a provider with :func:`register_provider`.
"""

from __future__ import annotations

import importlib
import threading

from scillm._config import env
from scillm.errors import UnknownProviderError
from scillm.providers.base import Provider
from scillm.providers.catalog import OLLAMA, OPENAI_COMPATIBLE
from scillm.providers.codex_agent import CodexAgent
from scillm.providers.litellm_backend import INSTALL_HINT, LitellmBackend, litellm_installed
from scillm.providers.local import LocalModel
from scillm.providers.openai_compat import OpenAICompatible

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_ENV",
    "default_model",
    "provider_names",
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

_lock = threading.Lock()
_providers: dict[str, Provider | str] = {}


def register_provider(
    name: str, provider: Provider | str, *, aliases: tuple[str, ...] = ()
) -> None:
    """Make ``provider`` answer model strings ``"<name>/..."`` and ``"<name>"`` (and aliases).

    ``provider`` may be ``"module:attribute"``: it is imported (and a class instantiated) on
    first use, so engines with heavy imports cost nothing until called. Registering an
    existing name replaces it, so a user can override a built-in.
    """
    if not name or "/" in name:
        raise ValueError(f"provider name must be non-empty and contain no '/': {name!r}")
    with _lock:
        for key in (name, *aliases):
            _providers[key] = provider


def _get(key: str) -> Provider | None:
    """The provider registered under ``key``, importing a lazily registered one."""
    entry = _providers.get(key)
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    provider: Provider = obj() if isinstance(obj, type) else obj
    with _lock:
        for k, v in _providers.items():
            if v == entry:
                _providers[k] = provider
    return provider


def _register_builtins() -> None:
    for spec in OPENAI_COMPATIBLE:
        register_provider(spec.name, OpenAICompatible(spec), aliases=spec.aliases)
    register_provider(OLLAMA.name, OpenAICompatible(OLLAMA), aliases=OLLAMA.aliases)
    codex = CodexAgent()
    register_provider(codex.name, codex, aliases=codex.spec.aliases)
    register_provider("local", LocalModel())
    register_provider("litellm", LitellmBackend())
    # Engine bridges: imported on first use.
    register_provider("codeworld", "scillm.codeworld.provider:CodeWorldProvider")
    register_provider(
        "certainly", "scillm.certainly.provider:CertainlyProvider", aliases=("lean4",)
    )
    register_provider("mini-agent", "scillm.agent.provider:MiniAgentProvider")


_register_builtins()


def provider_names() -> list[str]:
    """Every registered prefix, sorted."""
    return sorted(_providers)


def default_model() -> str:
    """The model used when none is given: the first set of ``SCILLM_DEFAULT_MODEL``,
    ``SCILLM_MODEL``, ``LITELLM_DEFAULT_MODEL``, ``LITELLM_MODEL``, ``DEFAULT_LITELLM_MODEL``,
    else the embedded ``local/smollm2``."""
    return env(*DEFAULT_MODEL_ENV) or DEFAULT_MODEL


def resolve(model: str, custom_llm_provider: str | None = None) -> tuple[Provider, str]:
    """The provider for ``model`` and the model name to send it."""
    if custom_llm_provider:
        provider = _get(custom_llm_provider)
        if provider is None:
            raise _unknown(f"custom_llm_provider={custom_llm_provider!r}")
        return provider, model.removeprefix(custom_llm_provider + "/")
    prefix, sep, rest = model.partition("/")
    named = _get(prefix) if (rest or not sep) else None
    if named is not None:
        return named, rest or model
    litellm = _get("litellm")
    if litellm is not None and litellm_installed():
        return litellm, model
    raise _unknown(f"model {model!r}")


def _unknown(what: str) -> UnknownProviderError:
    return UnknownProviderError(
        f"no provider for {what}. Use one of these prefixes: "
        f"{', '.join(p + '/' for p in provider_names())} (e.g. 'openai/gpt-4o-mini', "
        f"'ollama/qwen2.5:7b', 'local/smollm2'), or for any other provider install the "
        f"litellm backend: {INSTALL_HINT}."
    )
