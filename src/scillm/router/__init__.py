"""The Router: model_list routing, one call pipeline, fan-out, budgets, cache."""

from scillm.router.determinism import DeterminismWarning
from scillm.router.images import ImagePolicy
from scillm.router.parallel import RouterParallelRequest, RouterResult
from scillm.router.retry import RetryPolicy
from scillm.router.router import Router
from scillm.router.seam import EngineModel, ModelRef, engine_model

__all__ = [
    "DeterminismWarning",
    "EngineModel",
    "ImagePolicy",
    "ModelRef",
    "RetryPolicy",
    "Router",
    "RouterParallelRequest",
    "RouterResult",
    "engine_model",
]
