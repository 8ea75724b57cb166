"""MkDocs hook: the environment-variable table of docs/env.md, generated from the code.

Every variable scillm reads is a string literal in ``src/scillm`` (or built by one of the helpers
that add a prefix: ``twins("X")`` → ``SCILLM_X`` and ``LITELLM_X``; CodeWorld's ``setting("X")``
→ ``SCILLM_CODEWORLD_X`` and ``CODEWORLD_X``; each service of the catalog reads
``SCILLM_<NAME>_HOST/_PORT/_TOKEN``). The table lists each with the modules that read it and
their one-line summaries, replacing the ``<!-- env-catalog -->`` marker of env.md.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"
MARKER = "<!-- env-catalog -->"
NAME = re.compile(
    r"^(SCILLM|LITELLM|CODEX|CODEWORLD|CERTAINLY|MINI_AGENT|LEAN4|STRICT|SCENARIOS?|OPENAI|"
    r"OLLAMA|GROQ|TOGETHER|DEEPSEEK|OPENROUTER|CHUTES|RUNPOD|VLLM|CODE_AGENT|MOCK_LLM)_[A-Z0-9_]+$"
)
PREFIXED = {"twins": ("SCILLM_", "LITELLM_")}
PER_MODULE = {"scillm.codeworld.settings": {"setting": ("SCILLM_CODEWORLD_", "CODEWORLD_")}}
SERVICE_FIELDS = ("HOST", "PORT", "TOKEN")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _exported(tree: ast.Module) -> set[str]:
    """Names in ``__all__`` (identifiers, not variables)."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            out |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    return out


def catalog() -> dict[str, set[str]]:
    """Variable → the modules that read it."""
    found: dict[str, set[str]] = defaultdict(set)
    summaries: dict[str, str] = {}
    for path in sorted((SRC / "scillm").rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = _module(path)
        summaries[module] = (ast.get_docstring(tree) or "").split("\n")[0]
        skip = _exported(tree)
        helpers = {**PREFIXED, **PER_MODULE.get(module, {})}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if NAME.match(node.value) and node.value not in skip:
                    found[node.value].add(module)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                prefixes = helpers.get(node.func.id, ())
                for arg in node.args[:1]:
                    if prefixes and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        for prefix in prefixes:
                            found[prefix + arg.value].add(module)
    from scillm.service.catalog import SERVICES

    for name in SERVICES:
        for field in SERVICE_FIELDS:
            found["SCILLM_" + name.upper().replace("-", "_") + "_" + field].add(
                "scillm.service.config"
            )
    catalog.summaries = summaries  # type: ignore[attr-defined]
    return dict(found)


def table() -> str:
    found = catalog()
    summaries: dict[str, str] = catalog.summaries  # type: ignore[attr-defined]
    rows = ["| variable | read in |", "|---|---|"]
    for name in sorted(found):
        where = "; ".join(
            f"`{m}`" + (f" ({summaries[m].rstrip('.')})" if summaries.get(m) else "")
            for m in sorted(found[name])
        )
        rows.append(f"| `{name}` | {where.replace('|', '/')} |")
    return "\n".join(rows) + f"\n\n{len(found)} variables.\n"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, table())
    return markdown
