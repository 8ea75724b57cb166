"""``pip install scillm`` without extras, for real: the built wheel in a fresh venv.

The wheel is built with uv and installed into a new venv beside the lock's core packages (no
extras, no dev group), offline from uv's cache, which ``uv sync`` filled; where the cache lacks
something the same step runs once more against the registry, saying so. ``uv pip check`` then
proves the wheel's own requirements are met by that set: a core requirement on fastapi,
uvicorn or mcp fails here. In the venv the client, the Router, ``scillm batch`` and the mock
server work, and every feature of an extra names the extra it needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEP_TIMEOUT_S = 120
SERVE_COMMANDS = ("agent", "codex-sidecar", "codeworld", "certainly")
NOT_INSTALLED = ("fastapi", "uvicorn", "starlette", "mcp", "litellm", "xllamacpp", "pytest")


def _env() -> dict[str, str]:
    """The environment without the project venv's or scillm's settings."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "SCILLM_", "LITELLM_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "OPENAI_API_KEY": "test"}


def _uv(*args: str, cwd: Path = ROOT) -> None:
    """``uv ARGS --offline``; if the cache lacks something, once more online (and say so)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "this test needs uv on PATH: pip install uv (.ci/run installs it)"
    run = [uv, *args]
    options = {"cwd": cwd, "env": _env(), "capture_output": True, "text": True}
    done = subprocess.run([*run, "--offline"], **options, timeout=STEP_TIMEOUT_S, check=False)
    if done.returncode != 0:
        print(f"offline `uv {' '.join(args)}` failed, retrying online:\n{done.stderr}")
        done = subprocess.run(run, **options, timeout=STEP_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"uv {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the scillm wheel and its core dependencies, nothing else."""
    tmp = tmp_path_factory.mktemp("lean")
    _uv("build", "--wheel", "--out-dir", str(tmp / "dist"), "--quiet")
    (wheel,) = (tmp / "dist").glob("scillm-*.whl")
    lock = str(tmp / "pylock.toml")
    core = ("--locked", "--no-dev", "--no-emit-project")  # no extras, no dev group
    _uv("export", *core, "--format", "pylock.toml", "--output-file", lock, "--quiet")
    _uv("venv", "--python", sys.executable, "--quiet", str(tmp / "venv"))
    python = str(tmp / "venv" / "bin" / "python")
    _uv("pip", "install", "--python", python, "--quiet", "-r", lock)
    _uv("pip", "install", "--python", python, "--quiet", "--no-deps", str(wheel))
    _uv("pip", "check", "--python", python)
    return tmp / "venv"


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A program of the venv's ``bin`` (``python``, ``scillm``), run outside the repo."""
    program = str(venv / "bin" / args[0])
    return subprocess.run(
        [program, *args[1:]],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )


def _python(venv: Path, code: str, *argv: str, cwd: Path) -> str:
    done = _run(venv, "python", "-c", code, *argv, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


CORE = """
import importlib.util, json, sys
from importlib.metadata import entry_points
import scillm, scillm.agent, scillm.certainly, scillm.codeworld, scillm.testing
scillm.completion, scillm.Router
try:
    import fastapi
except ImportError as exc:
    fastapi_error = str(exc)
print(json.dumps({
    "scillm": scillm.__file__,
    "installed": [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None],
    "fastapi": fastapi_error,
    "pytest11": [ep.value for ep in entry_points(group="pytest11")],
}))
"""


def test_the_core_imports_without_any_extra(venv: Path, tmp_path: Path) -> None:
    seen = json.loads(_python(venv, CORE, *NOT_INSTALLED, cwd=tmp_path))
    assert Path(seen["scillm"]).is_relative_to(venv), seen["scillm"]
    assert seen["installed"] == []
    assert seen["fastapi"] == "No module named 'fastapi'"
    assert seen["pytest11"] == []  # the pytest plugin is opt-in


EXTRA_ERRORS = """
import asyncio, json
from scillm.errors import EngineUnavailable

def load(what):
    if what == "mcp":
        from scillm.agent import MCPStdioTools
        MCPStdioTools("python", ["server.py"])
    elif what == "codeworld":
        import scillm.codeworld
        scillm.codeworld.create_app()
    else:
        __import__(what)

said = {}
for what in ["mcp", "codeworld", "scillm.agent.server", "scillm.agent.codex.sidecar",
             "scillm.certainly.server"]:
    try:
        load(what)
    except EngineUnavailable as exc:
        said[what] = str(exc)
print(json.dumps(said))
"""


def test_features_of_an_extra_name_it(venv: Path, tmp_path: Path) -> None:
    said = json.loads(_python(venv, EXTRA_ERRORS, cwd=tmp_path))
    assert said.pop("mcp") == (
        "MCPStdioTools (tools from an MCP server) needs the 'agent' extra (mcp is not "
        "installed): pip install 'scillm[agent]' (or: uv sync --extra agent)"
    )
    assert len(said) == 4
    serve = "needs the 'serve' extra (fastapi is not installed): pip install 'scillm[serve]'"
    for what, message in said.items():
        assert serve in message, what


@pytest.mark.parametrize("command", SERVE_COMMANDS)
def test_serve_commands_print_the_extra_they_need(venv: Path, tmp_path: Path, command: str) -> None:
    done = _run(venv, "scillm", "serve", command, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"error: scillm serve {command} needs the 'serve' extra (fastapi is not installed): "
        "pip install 'scillm[serve]' (or: uv sync --extra serve)"
    )
    assert done.stdout == ""


def test_the_demo_names_the_local_extra(venv: Path, tmp_path: Path) -> None:
    done = _run(venv, "scillm", "demo", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "the embedded model needs the `local` extra" in done.stderr
    assert "pip install 'scillm[local]'" in done.stderr  # not eaten as rich markup


@contextlib.contextmanager
def mock_server(venv: Path, cwd: Path) -> Iterator[str]:
    """``scillm mock-server --port 0 --reply pong`` of the venv; yields its base URL."""
    proc = subprocess.Popen(
        [str(venv / "bin" / "scillm"), "mock-server", "--port", "0", "--reply", "pong"],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()  # "mock LLM server on http://127.0.0.1:PORT/v1 (...)"
        assert banner.startswith("mock LLM server on http://127.0.0.1:"), banner
        yield banner.split()[4]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()


ROUTER = """
import sys
from scillm import Router
params = {"model": "openai/mock", "api_base": sys.argv[1], "api_key": "test"}
router = Router(model_list=[{"model_name": "m", "litellm_params": params}])
reply = router.completion(model="m", messages=[{"role": "user", "content": "ping"}])
print(reply.choices[0].message.content)
"""

ROUTER_YAML = """model_list:
  - model_name: m
    litellm_params: {{model: openai/mock, api_base: "{url}", api_key: test}}
"""


def test_router_and_batch_against_the_mock_server(venv: Path, tmp_path: Path) -> None:
    with mock_server(venv, tmp_path) as url:
        assert _python(venv, ROUTER, url, cwd=tmp_path) == "pong\n"

        (tmp_path / "router.yaml").write_text(ROUTER_YAML.format(url=url))
        rows = [{"id": i, "prompt": f"question {i}"} for i in range(3)]
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = ("in.jsonl", "-o", "out.jsonl", "--router-config", "router.yaml", "-m", "m")
        done = _run(venv, "scillm", "batch", *args, "--no-progress", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in out) == [0, 1, 2]
    assert {r["response"]["choices"][0]["message"]["content"] for r in out} == {"pong"}
