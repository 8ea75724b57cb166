"""Program fingerprints: the exact text's hash, and a shape hash that ignores formatting.

The shape of Python code is its AST without positions and docstrings, so two programs that
differ only in layout, comments or docstrings are one program to the search. Other languages
(and Python that does not parse) fall back to the text with whitespace runs collapsed.
Parsing never runs the code.
"""

from __future__ import annotations

import ast
import hashlib

__all__ = ["code_hash", "shape_hash"]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def shape_hash(code: str, language: str) -> str:
    """Equal for programs that differ only in formatting (and, for Python, comments/docstrings)."""
    if language == "python":
        try:
            tree = ast.parse(code)
            _drop_docstrings(tree)
            return "ast:" + hashlib.sha256(ast.dump(tree).encode()).hexdigest()
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return "text:" + hashlib.sha256(" ".join(code.split()).encode()).hexdigest()


def _drop_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
