"""Fenced code blocks in a model reply, routed to a sandbox language by their info string.

Only blocks that name a language the sandbox runs are picked (```` ```py ```` → python,
```` ```js ```` → javascript, ```` ```sh ```` → bash, ...); an unlabeled block is text, never
guessed to be Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LANGUAGE_ALIASES", "CodeBlock", "code_blocks"]

LANGUAGE_ALIASES = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cxx": "cpp",
    "bash": "bash",
    "sh": "bash",
    "shell": "bash",
}
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One runnable block: the sandbox language and the code."""

    language: str
    code: str


def code_blocks(text: str, languages: Iterable[str]) -> list[CodeBlock]:
    """The blocks of ``text`` whose language is one of ``languages``, in order."""
    enabled = set(languages)
    blocks = []
    for label, code in _FENCE.findall(text or ""):
        language = LANGUAGE_ALIASES.get(label.lower())
        if language in enabled and code.strip():
            blocks.append(CodeBlock(language, code))
    return blocks
