"""The model a scenario asks: a variable's, else the stack's mock server (``openai/mock-model``)."""

from __future__ import annotations

from dataclasses import dataclass

from scillm._config import env
from scillm.scenarios.base import placeholder_free
from scillm.scenarios.stack import Context

__all__ = ["MOCK_MODEL", "ModelSpec", "scenario_model"]

MOCK_MODEL = "openai/mock-model"


@dataclass(frozen=True)
class ModelSpec:
    """``model`` and, for the stack's mock, its ``api_base`` and a placeholder key."""

    model: str
    api_base: str | None = None
    api_key: str | None = None

    @property
    def mock(self) -> bool:
        return self.api_base is not None

    def as_args(self, prefix: str = "") -> dict[str, str]:
        """``{prefix}model``, ``{prefix}api_base``, ``{prefix}api_key`` (those that are set)."""
        fields = {"model": self.model, "api_base": self.api_base, "api_key": self.api_key}
        return {prefix + k: v for k, v in fields.items() if v is not None}


def scenario_model(ctx: Context, *variables: str) -> ModelSpec:
    """The first of ``variables`` that is set (with its provider's usual base and key), else
    the stack's mock server."""
    for var in variables:
        value = placeholder_free(env(var))
        if value:
            return ModelSpec(value)
    return ModelSpec(MOCK_MODEL, ctx.url("mock") + "/v1", "sk-scenario")
