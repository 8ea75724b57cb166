"""Command registration (placeholder until this feature's commands land)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add this feature's commands (none yet)."""
