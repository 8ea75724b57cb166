"""The full demo's extraction step: lab notes → JSON objects through ``scillm batch`` with
``--json-schema``, every reply checked against the schema again here with ``jsonschema``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from scillm.batch.command import BatchOptions
from scillm.demo.batch import run_once
from scillm.demo.steps import StepResult
from scillm.runrecord import read_rows

__all__ = ["NOTES", "SCHEMA", "extract_step"]

NOTES = (
    "Water was heated to 80 C for ten minutes.",
    "The ethanol sample was cooled to -20 C overnight.",
    "Copper sulfate dissolved completely at 25 C.",
    "We kept the glycerol at 4 C until use.",
    "Sodium chloride was dried at 110 C for two hours.",
    "The acetone bath sat at room temperature, 21 C.",
)
SCHEMA: dict[str, Any] = {
    "name": "lab_note",
    "schema": {
        "type": "object",
        "properties": {
            "substance": {"type": "string", "maxLength": 40},
            "temperature_c": {"type": "number"},
        },
        "required": ["substance", "temperature_c"],
        "additionalProperties": False,
    },
}
MAX_TOKENS = 48


def _write_inputs(out_dir: Path) -> tuple[Path, Path]:
    notes, schema = out_dir / "notes.jsonl", out_dir / "lab_note.schema.json"
    rows = (
        {
            "id": f"note{i}",
            "prompt": f"Extract the substance and its temperature in Celsius as JSON: {note}",
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "seed": 7,
        }
        for i, note in enumerate(NOTES)
    )
    notes.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    schema.write_bytes(orjson.dumps(SCHEMA, option=orjson.OPT_INDENT_2))
    return notes, schema


def _valid(row: dict[str, Any]) -> dict[str, Any] | None:
    """The row's reply as an object when it satisfies the schema, else None."""
    import jsonschema

    try:
        content = row["response"]["choices"][0]["message"]["content"]
        value = orjson.loads(content)
        jsonschema.validate(value, SCHEMA["schema"])
    except (KeyError, IndexError, TypeError, orjson.JSONDecodeError, jsonschema.ValidationError):
        return None
    return value if isinstance(value, dict) else None


def extract_step(model: str, out_dir: Path) -> StepResult:
    """Extract ``NOTES`` with the schema; ok when every reply is a valid object."""
    notes, schema = _write_inputs(out_dir)
    output = out_dir / "extracted.jsonl"
    run_once(BatchOptions(notes, output, model=model, concurrency=len(NOTES), json_schema=schema))
    rows = list(read_rows(output))
    values = [_valid(row) for row in rows]
    valid = [value for value in values if value is not None]
    line = (
        f"{len(valid)}/{len(NOTES)} replies are JSON objects that satisfy the schema "
        f"(checked again with jsonschema), e.g. {orjson.dumps(valid[0]).decode() if valid else '-'}"
    )
    ok = len(rows) == len(NOTES) and len(valid) == len(NOTES)
    return StepResult.judged("extraction", ok, line)
