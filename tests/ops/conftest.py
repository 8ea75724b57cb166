"""Fixtures of the ``scillm doctor``/``warmup`` tests (helpers live in ``ops_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def empty_path(tmp_path: Path) -> str:
    """A PATH directory holding no tool at all."""
    bare = tmp_path / "bin"
    bare.mkdir()
    return str(bare)
