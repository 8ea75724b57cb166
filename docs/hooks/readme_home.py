"""MkDocs hook: the site's home page is the README (one text, two places to read it).

Replaces the ``<!-- readme -->`` marker of index.md with README.md, its ``docs/X.md`` links
made relative to the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- readme -->"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    text = re.sub(r"\]\(docs/([^)]*)\)", r"](\1)", README.read_text())
    return markdown.replace(MARKER, text.replace("](docs/)", "](index.md)"))
