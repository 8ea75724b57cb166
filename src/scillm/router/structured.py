"""Schema-first structured output: validate the reply, repair or fall back once.

The request side (every form of ``response_format``/``json_schema``) is planned by
:mod:`scillm._schema` when the request is normalised.

The ladder: parse → strip code fences → tolerant repair (``json-repair``) → one fallback call
with ``json_object`` and the schema in the system prompt. Each reply records the rung it reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from scillm._schema import SchemaPlan

__all__ = ["Validation", "fallback_request", "validate_reply"]

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
MAX_ERRORS = 5


@dataclass(slots=True)
class Validation:
    """The outcome of checking one reply against a plan."""

    json_valid: bool = False
    schema_valid: bool | None = None
    repaired: bool = False
    parse_error: str | None = None
    validation_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.json_valid and self.schema_valid is not False


def _strip_fences(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1) if match else text


def validate_reply(content: str, plan: SchemaPlan) -> tuple[Validation, Any]:
    """Parse (then repair if needed) and validate ``content``; return the outcome and the value."""
    result = Validation()
    text = _strip_fences(content or "").strip()
    if not text:
        result.parse_error = "empty"
        return result, None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        result.parse_error = str(exc)[:120]
        value = _repair(text)
        if value is None:
            return result, None
        result.repaired = True
    result.json_valid = True
    if plan.schema is not None:
        result.validation_errors = _schema_errors(value, plan.schema)
        result.schema_valid = not result.validation_errors
    return result, value


def _repair(text: str) -> Any:
    import json_repair

    try:
        value = json_repair.loads(text)
    except Exception:  # json-repair raises assorted errors on hopeless input
        return None
    # json-repair turns hopeless input into "" or an empty container: that is not a repair.
    return value if value not in ("", [], {}, None) else None


def _schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:200]
        for e in errors[:MAX_ERRORS]
    ]


def fallback_request(
    messages: list[dict[str, Any]], params: dict[str, Any], plan: SchemaPlan
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Messages and params for the one fallback call: ``json_object`` plus the schema in words."""
    instruction = "Reply with one JSON object only, no prose."
    if plan.schema is not None:
        schema_text = orjson.dumps(plan.schema).decode()
        instruction += f" It must validate against this JSON Schema: {schema_text}"
    system = {"role": "system", "content": instruction}
    return [system, *messages], {**params, "response_format": {"type": "json_object"}}
