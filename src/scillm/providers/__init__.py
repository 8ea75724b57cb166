"""Providers: one module per wire protocol or backend; :mod:`.registry` resolves model strings."""

from scillm.providers.base import Call, Provider
from scillm.providers.openai_compat import OpenAICompatible, ProviderSpec
from scillm.providers.registry import provider_names, register_provider, resolve

__all__ = [
    "Call",
    "OpenAICompatible",
    "Provider",
    "ProviderSpec",
    "provider_names",
    "register_provider",
    "resolve",
]
