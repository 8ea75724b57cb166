"""Schema-first structured output: plan the request, validate the reply, repair or fall back once.

Accepted forms: ``response_format={"type": "json_schema", "json_schema": {...}}``, the original's
``response_mode="schema_first", json_schema=...`` (a bare JSON Schema or the OpenAI wrapper
``{"name", "schema"}``), a pydantic model class as ``response_format``, and
``response_format={"type": "json_object"}`` (JSON checked, no schema).

The ladder: parse → strip code fences → tolerant repair (``json-repair``) → one fallback call
with ``json_object`` and the schema in the system prompt. Each reply records the rung it reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from scillm.errors import BadRequestError

__all__ = ["SchemaPlan", "Validation", "fallback_request", "plan_structured", "validate_reply"]

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
MAX_ERRORS = 5


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What structured output was asked for and what will be sent."""

    mode: str  # "json_schema" | "json_object"
    schema: dict[str, Any] | None
    name: str
    response_format: dict[str, Any]


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


def _wrapper(json_schema: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, bare schema, OpenAI wrapper) from a bare schema or a ``{name, schema}`` wrapper."""
    if not isinstance(json_schema, dict):
        raise BadRequestError(f"json_schema must be a dict, got {type(json_schema).__name__}")
    if isinstance(json_schema.get("schema"), dict):
        name = str(json_schema.get("name") or "response")
        return name, json_schema["schema"], {**json_schema, "name": name}
    return "response", json_schema, {"name": "response", "schema": json_schema}


def _check_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise BadRequestError(
            f"json_schema is not a valid JSON Schema: {exc.message} (at "
            f"{'/'.join(map(str, exc.absolute_path)) or 'the top level'}); fix it before calling."
        ) from None


def plan_structured(
    params: dict[str, Any], response_mode: str | None, json_schema: Any
) -> tuple[SchemaPlan | None, dict[str, Any]]:
    """The plan for a call and its params rewritten to send it (a pydantic class becomes JSON)."""
    fmt = params.get("response_format")
    if response_mode not in (None, "schema_first"):
        raise BadRequestError(f"response_mode={response_mode!r}; the only mode is 'schema_first'")
    if json_schema is not None and fmt is None:
        name, schema, wrapper = _wrapper(json_schema)
    elif isinstance(fmt, type) and hasattr(fmt, "model_json_schema"):
        schema = fmt.model_json_schema()
        name = fmt.__name__
        wrapper = {"name": name, "schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        name, schema, wrapper = _wrapper(fmt.get("json_schema"))
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return SchemaPlan("json_object", None, "response", fmt), params
    elif fmt is None and response_mode == "schema_first":
        raise BadRequestError("response_mode='schema_first' needs json_schema=...")
    else:
        return None, params
    _check_schema(schema)
    response_format = {"type": "json_schema", "json_schema": wrapper}
    out = {**params, "response_format": response_format}
    out.setdefault("temperature", 0)
    return SchemaPlan("json_schema", schema, name, response_format), out


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
