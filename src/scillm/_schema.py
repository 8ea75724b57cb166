"""Structured output asked for, in every form, as one :class:`SchemaPlan` (or None).

Forms: ``response_format={"type": "json_schema", "json_schema": {...}}``, a pydantic model class as
``response_format``, ``json_schema=...`` (a bare JSON Schema or the OpenAI wrapper
``{"name", "schema"}``, optionally with ``response_mode="schema_first"``), and
``response_format={"type": "json_object"}`` (JSON, no schema). ``{"type": "text"}`` asks for none.
What is sent is always the OpenAI wrapper; checking replies against the plan is the Router's job
(:mod:`scillm.router.structured`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scillm.errors import BadRequestError

__all__ = ["SchemaPlan", "plan_structured"]

RESPONSE_MODES = (None, "schema_first")


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What structured output was asked for and what will be sent."""

    mode: str  # "json_schema" | "json_object"
    schema: dict[str, Any] | None
    name: str
    response_format: dict[str, Any]


def _wrapper(json_schema: Any, where: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, bare schema, OpenAI wrapper) from a bare schema or a ``{name, schema}`` wrapper."""
    if not isinstance(json_schema, dict):
        raise BadRequestError(
            f"{where} must be a JSON Schema dict (or {{'name': ..., 'schema': {{...}}}}), "
            f"got {type(json_schema).__name__}"
        )
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
    if response_mode not in RESPONSE_MODES:
        raise BadRequestError(f"response_mode={response_mode!r}; the only mode is 'schema_first'")
    if json_schema is not None and fmt is not None:
        raise BadRequestError(
            "both json_schema= and response_format= given; pass one (they mean the same thing)"
        )
    if json_schema is not None:
        name, schema, wrapper = _wrapper(json_schema, "json_schema")
    elif isinstance(fmt, type) and hasattr(fmt, "model_json_schema"):
        schema = fmt.model_json_schema()
        name = fmt.__name__
        wrapper = {"name": name, "schema": schema}
    elif fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        if response_mode == "schema_first":
            raise BadRequestError("response_mode='schema_first' needs json_schema=...")
        return None, params
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        name, schema, wrapper = _wrapper(fmt.get("json_schema"), "response_format['json_schema']")
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return SchemaPlan("json_object", None, "response", fmt), params
    else:
        raise BadRequestError(
            f"response_format={fmt!r:.80} is not understood; give {{'type': 'json_schema', "
            "'json_schema': {...}}, {'type': 'json_object'}, {'type': 'text'} or a pydantic "
            "model class"
        )
    _check_schema(schema)
    response_format = {"type": "json_schema", "json_schema": wrapper}
    out = {**params, "response_format": response_format}
    out.setdefault("temperature", 0)
    return SchemaPlan("json_schema", schema, name, response_format), out
