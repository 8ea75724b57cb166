"""Optional parts of scillm: the error that names the extra a missing part comes with.

    require("fastapi", extra="serve", feature="the agent server")
    # EngineUnavailable: the agent server needs the 'serve' extra (fastapi is not installed):
    #     pip install 'scillm[serve]' (or: uv sync --extra serve)

``pip install scillm`` is the client, the Router and the command line. ``serve`` (FastAPI,
uvicorn) runs the HTTP services, ``agent`` (mcp) the MCP tool source, ``local`` the embedded
model, ``litellm`` the litellm backend; ``all`` is every one. A feature checks for its extra when
it is used, never when scillm is imported.
"""

from __future__ import annotations

import importlib.util

from scillm.errors import EngineUnavailable

__all__ = ["SERVE_MODULES", "require"]

SERVE_MODULES = ("fastapi", "uvicorn")  # what the 'serve' extra brings that scillm imports


def require(*modules: str, extra: str, feature: str) -> None:
    """Raise :class:`EngineUnavailable` naming ``extra`` if one of ``modules`` is not installed."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise EngineUnavailable(
                f"{feature} needs the '{extra}' extra ({module} is not installed): "
                f"pip install 'scillm[{extra}]' (or: uv sync --extra {extra})"
            ) from None  # at an import site, the ImportError adds nothing
