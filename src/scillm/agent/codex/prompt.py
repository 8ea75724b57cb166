"""Chat messages → the one prompt ``codex exec`` takes on stdin.

A single user message is sent as it is; a conversation becomes labelled sections in order, so
system instructions and earlier turns reach the CLI. Text parts of a part list are joined;
other parts (images, audio) are refused rather than dropped.
"""

from __future__ import annotations

from typing import Any

from scillm.errors import BadRequestError

__all__ = ["build_prompt", "text_of"]


def text_of(content: Any, where: str) -> str:
    """The text of a message ``content``: a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in ("text", "input_text"):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise BadRequestError(f"{where}: the Codex sidecar takes text parts only, not {kind!r}")
        texts.append(str(part.get("text") or ""))
    return "\n".join(texts)


def build_prompt(messages: list[dict[str, Any]], suffix: str = "") -> str:
    """The prompt for ``messages`` (checked by the caller), plus an optional ``suffix``."""
    texts = [
        (m["role"], text_of(m.get("content"), f"messages[{i}]")) for i, m in enumerate(messages)
    ]
    if len(texts) == 1 and texts[0][0] == "user":
        prompt = texts[0][1]
    else:
        prompt = "\n\n".join(f"[{role}]\n{text}" for role, text in texts if text.strip())
    if not prompt.strip():
        raise BadRequestError("the prompt is empty: give at least one message with text")
    return prompt + (f"\n\n{suffix}" if suffix else "")
