"""Fixtures of the batch tests (helpers live in ``batch_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def rows_in(tmp_path: Path) -> Path:
    return tmp_path / "in.jsonl"


@pytest.fixture
def rows_out(tmp_path: Path) -> Path:
    return tmp_path / "out.jsonl"
