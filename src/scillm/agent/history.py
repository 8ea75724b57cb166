"""History pruning that never separates a tool call from its results.

A model API rejects a ``tool`` message whose assistant ``tool_calls`` message was dropped, so the
kept tail starts at a message that does not depend on an earlier one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["prune_history"]


def prune_history(messages: list[dict[str, Any]], max_messages: int) -> list[dict[str, Any]]:
    """System messages, the first user message (the task), and the newest messages that fit.

    The tail may run a few messages over ``max_messages`` to keep a call with its results.
    Returns ``messages`` itself when it already fits.
    """
    if len(messages) <= max_messages:
        return messages
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    keep = [m.get("role") in ("system", "developer") or m is first_user for m in messages]
    head = [m for m, k in zip(messages, keep, strict=True) if k]
    rest = [m for m, k in zip(messages, keep, strict=True) if not k]
    start = max(len(rest) - max(max_messages - len(head), 1), 0)
    while start > 0 and rest[start].get("role") == "tool":
        start -= 1  # back to the assistant message that made the call: pairs stay whole
    return head + rest[start:]
