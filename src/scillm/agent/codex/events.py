"""Reading ``codex exec --json`` output: the final message, reasoning apart, usage, failures.

The CLI prints one JSON event per line: ``thread.started``, ``turn.started``,
``item.completed`` (``item.type`` ``agent_message``, ``reasoning``, ``error`` — a warning —, or
a command/file/tool item), ``turn.completed`` with ``usage``, and on failure ``error`` and
``turn.failed``. The answer is the *last* ``agent_message``: earlier ones are preambles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["CodexRun", "parse_events"]


@dataclass
class CodexRun:
    """What one ``codex exec`` run said and did."""

    content: str | None = None
    reasoning: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    thread_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def side_data(self) -> dict[str, Any]:
        """The ``codex`` key of a reply: thread, warnings and the non-message items."""
        return {"thread_id": self.thread_id, "warnings": self.warnings, "items": self.items}


def parse_events(stdout: bytes) -> CodexRun:
    """Fold the JSONL events into a :class:`CodexRun` (lines that are not JSON are skipped)."""
    run = CodexRun()
    for line in stdout.splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            _apply(run, event)
    return run


def _apply(run: CodexRun, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind == "thread.started":
        run.thread_id = event.get("thread_id")
    elif kind == "item.completed" and isinstance(event.get("item"), dict):
        _item(run, event["item"])
    elif kind == "turn.completed":
        _add_usage(run.usage, event.get("usage") or {})
    elif kind in ("error", "turn.failed"):
        error = event.get("error") if kind == "turn.failed" else event
        message = error.get("message") if isinstance(error, dict) else None
        run.error = str(message or event)


def _item(run: CodexRun, item: dict[str, Any]) -> None:
    kind = item.get("type")
    if kind == "agent_message":
        run.content = str(item.get("text") or "")
    elif kind == "reasoning":
        run.reasoning.append(str(item.get("text") or ""))
    elif kind == "error":
        run.warnings.append(str(item.get("message") or ""))
    else:
        run.items.append(item)


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Codex usage in OpenAI's chat shape, summed over turns."""
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    cached = int(usage.get("cached_input_tokens") or 0)
    reasoning = int(usage.get("reasoning_output_tokens") or 0)
    total["prompt_tokens"] = total.get("prompt_tokens", 0) + prompt
    total["completion_tokens"] = total.get("completion_tokens", 0) + completion
    total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
    details = total.setdefault("prompt_tokens_details", {"cached_tokens": 0})
    details["cached_tokens"] += cached
    done = total.setdefault("completion_tokens_details", {"reasoning_tokens": 0})
    done["reasoning_tokens"] += reasoning
