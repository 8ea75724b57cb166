"""CodeWorld's one-call runner for Python functions: ``python -I -S -B call.py``.

Started by the harness (``_harness_python.py``) in a child that already runs as a uid of its own
under the call's limits: a fresh interpreter, so nothing of the harness (other calls' arguments)
is in its memory. stdin holds the call: ``{filename, entrypoints, entry, args, output_cap,
stdout_cap}``; ``entry`` null asks only which entrypoint the program defines. The program's
module-level code runs, then the entrypoint on the decoded ``args``; ``print`` is captured. The
record goes to fd 3, a pipe only this process holds; time, CPU and memory are measured by the
harness from outside. Standard library only, plus ``scillm_values`` beside this file.
"""

from __future__ import annotations

import _json
import io
import math
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from scillm.codeworld import values as codec
else:  # the sandbox has it beside this file (``-I`` keeps its folder off sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import scillm_values as codec

MESSAGE_CAP = 2000
RECORD_FD = 3


class _Scanning:
    """What ``_json.make_scanner`` reads; the module ``json`` would cost every call ~12 ms
    (it imports ``re``), most of a runner's start."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.__getitem__


def loads(text: str) -> Any:
    scan = _json.make_scanner(_Scanning())  # type: ignore[arg-type]  # any object with these
    return scan(text, 0)[0]


def dumps(data: Any) -> str:
    """Strict JSON (no NaN); the codec has already turned the value into plain data."""
    encode_chunks = _json.make_encoder(
        None, _unencodable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
    return "".join(encode_chunks(data, 0))


def _unencodable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON data")


def main() -> None:
    call = loads(sys.stdin.read())
    sys.stdin = io.StringIO()
    captured = io.StringIO()
    sys.stdout = captured
    record = run(call)
    sys.stdout = sys.__stdout__
    record["stdout"] = captured.getvalue()[: call["stdout_cap"]]
    os.write(RECORD_FD, dumps(record).encode())


def run(call: dict[str, Any]) -> dict[str, Any]:
    """Load the program and make the call; how it went, as a record."""
    filename = call["filename"]
    with open(filename, encoding="utf-8", errors="replace") as source_file:
        source = source_file.read()
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        status = "compile_error" if call["entry"] is None else "error"
        return {"status": status, "message": describe(exc, filename)}
    namespace: dict[str, Any] = {"__name__": filename.removesuffix(".py")}
    try:
        exec(code, namespace)
        if call["entry"] is None:
            found = (n for n in call["entrypoints"] if callable(namespace.get(n)))
            return {"status": "ok", "output": next(found, None)}
        value = namespace[call["entry"]](*codec.decode(call["args"], "args"))
    except MemoryError:
        return {"status": "memory_limit", "message": "MemoryError: the memory limit was reached"}
    except BaseException as exc:  # the program's exceptions, SystemExit included, are verdicts
        return {"status": "error", "message": describe(exc, filename)}
    return encode(value, call["output_cap"])


def encode(value: Any, cap: int) -> dict[str, Any]:
    """The return value in the values encoding (checked here: a bad value spoils only its call)."""
    try:
        data = codec.encode(value, "the return value")
        text = dumps(data)
    except (ValueError, RecursionError) as exc:  # Unencodable is a ValueError
        return {"status": "error", "message": f"returned a {type(value).__name__}: {exc}"}
    if len(text) > cap:
        return {"status": "output_limit", "message": f"return value over {cap} bytes as JSON"}
    return {"status": "ok", "output": data}


def describe(exc: BaseException, filename: str) -> str:
    """``ZeroDivisionError: division by zero (solution.py, line 3)``."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):  # its text already says where
        return text[:MESSAGE_CAP]
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is not None:
        text += f" ({filename}, line {line})"
    return text[:MESSAGE_CAP]


if __name__ == "__main__":
    main()
