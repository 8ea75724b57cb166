"""The docs: every public name has a docstring (the API reference is built from them), the
README stays a front page, and its links lead somewhere."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PUBLIC = (
    "scillm",
    "scillm.router",
    "scillm.batch",
    "scillm.progress",
    "scillm.codeworld",
    "scillm.certainly",
    "scillm.agent",
    "scillm.testing",
    "scillm.service",
    "scillm.errors",
    "scillm.types",
)


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_is_documented(module: str) -> None:
    mod = importlib.import_module(module)
    assert inspect.getdoc(mod), f"{module} has no docstring"
    missing = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not inspect.getdoc(obj):
            missing.append(name)
    assert not missing, f"{module}: no docstring for {', '.join(missing)}"


def test_the_readme_is_a_front_page_whose_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10 * 1024
    links = re.findall(r"\]\((docs/[^)#]*)\)", readme)
    assert links, "the README links the docs"
    for link in links:
        assert (ROOT / link).exists(), link
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted(p.name for p in (ROOT / "docs").glob("*.md")):
        assert page in nav, f"docs/{page} is not in mkdocs.yml's nav"
