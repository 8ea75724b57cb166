"""``scillm doctor``: one full run that passes (real sandbox, Coq, node, embedded model, the mock
server as provider, a real service), then cheap runs of single checks that fail."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ops_helpers import (
    NOWHERE,
    SCILLM,
    checks_of,
    clean_env,
    finish,
    free_port,
    invoke,
    json_out,
    run,
    start,
)

from scillm.testing import Fault, MockLLMServer

PROJECT_CODEX = Path(__file__).parents[2] / ".codex-cli" / "node_modules" / ".bin" / "codex"
REQUIRED = ("sandbox", "coqc", "node", "embedded")
OPTIONAL = ("lean", "codex-cli")


@pytest.fixture(scope="module")
def codeworld_url() -> Iterator[str]:
    """``scillm serve codeworld`` on a free port, healthy."""
    port = free_port()
    proc = subprocess.Popen(
        [*SCILLM, "serve", "codeworld", "--port", str(port)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, "scillm serve codeworld exited"
                assert time.monotonic() < deadline, "scillm serve codeworld did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def full_run(
    codeworld_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path, MockLLMServer]]:
    """The whole doctor, once: every check, two provider models, one service."""
    out = tmp_path_factory.mktemp("doctor") / "report"
    with MockLLMServer() as srv:
        args = ["doctor", "--json", "--out", str(out), "--model", "openai/flag-model"]
        args += ["--api-base", srv.base_url, "--api-key", "k"]
        args += ["--service", f"codeworld={codeworld_url}"]
        env = clean_env(LITELLM_SMALL_TEXT_MODEL="openai/slot-model")
        yield run(args, env), out, srv


def test_a_ready_machine_passes(full_run: Any) -> None:
    done, _, srv = full_run
    assert done.returncode == 0, done.stdout + done.stderr
    report = json_out(done)
    assert report["ready"] is True and report["strict"] is False
    checks = checks_of(report)
    for name in REQUIRED:
        assert checks[name]["ok"] and checks[name]["required"], checks[name]
    for name in OPTIONAL:  # present and working, or absent and saying what to install
        check = checks[name]
        assert not check["required"] and (check["ok"] or check["skipped"]), check
        if check["skipped"]:
            assert "install" in check["details"]
    assert "Coq" in checks["coqc"]["details"] and "bwrap" in checks["sandbox"]["details"]
    assert checks["model openai/flag-model"]["ok"] and checks["model openai/slot-model"]["ok"]
    assert checks["service codeworld"]["ok"], checks["service codeworld"]
    bodies = [r.body for r in srv.requests if r.body]
    assert sorted(b["model"] for b in bodies) == ["flag-model", "slot-model"]
    assert all(b["max_tokens"] == 8 and b["temperature"] == 0 for b in bodies)


def test_the_report_files(full_run: Any) -> None:
    done, out, _ = full_run
    saved = json.loads((out / "doctor.json").read_text())
    assert saved["checks"] == json_out(done)["checks"]
    assert all(set(c) >= {"name", "ok", "skipped", "details"} for c in saved["checks"])
    summary = (out / "PROJECT_READY.md").read_text()
    assert "**Summary**: READY" in summary
    assert "| coqc | ok | yes |" in summary


def test_skips_pass_unless_strict(empty_path: str) -> None:
    env = clean_env(PATH=empty_path)  # no lean here
    runs = [
        start(["doctor", "--check", "lean"], env),
        start(["doctor", "--check", "lean", "--strict", "--json"], env),
        start(["doctor", "--check", "lean"], {**env, "STRICT_READY": "1"}),
    ]
    loose, strict, by_env = (finish(proc) for proc in runs)
    assert loose.returncode == 0, loose.stderr
    assert "skipped" in loose.stdout and "Summary: READY" in loose.stdout
    assert strict.returncode == 1
    report = json_out(strict)
    assert report["ready"] is False and checks_of(report)["lean"]["skipped"]
    assert by_env.returncode == 1 and "NOT READY" in by_env.stdout


def test_a_down_or_refusing_provider_and_a_down_service_fail(
    mock_llm: MockLLMServer, tmp_path: Path
) -> None:
    with MockLLMServer() as stopped:
        down = stopped.base_url
    router_config = tmp_path / "router.json"
    deployments = {"stopped": ("openai/a", down), "nowhere": ("openai/b", NOWHERE)}
    router_config.write_text(
        json.dumps(
            {
                "model_list": [
                    {"model_name": name, "litellm_params": {"model": model, "api_base": base}}
                    for name, (model, base) in deployments.items()
                ]
            }
        )
    )
    pending = start(
        ["doctor", "--check", "node", "--router-config", str(router_config), "--json"],
        clean_env(OPENAI_API_KEY="k"),
    )
    mock_llm.enqueue(Fault.http(401))
    args = ["doctor", "--check", "node", "--json", "--model", "openai/refused"]
    args += ["--api-base", mock_llm.base_url, "--api-key", "wrong"]
    args += ["--service", f"agent=http://127.0.0.1:{free_port()}"]
    done = run(args, clean_env())
    assert done.returncode == 1, done.stderr
    report = json_out(done)
    checks = checks_of(report)
    assert report["ready"] is False
    assert "AuthenticationError" in checks["model openai/refused"]["details"]
    agent = checks["service agent"]
    assert not agent["ok"] and "scillm serve agent" in agent["details"]

    alone = finish(pending)
    assert alone.returncode == 1
    checks = checks_of(json_out(alone))
    assert checks["node"]["ok"]
    for name in ("model stopped (openai/a)", "model nowhere (openai/b)"):
        assert not checks[name]["ok"] and "ConnectionError" in checks[name]["details"]


class _Health(BaseHTTPRequestHandler):
    """Health answers a service might give: not ok, a redirect, an error with escapes."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        replies = {
            "/sick/healthz": (200, {"ok": False, "problem": "\x1b[2Jcleared your screen"}),
            "/moved/healthz": (302, {}),
            "/broken/healthz": (503, {"error": {"message": "\x1b]0;owned\x07down"}}),
        }
        status, body = replies.get(self.path, (404, {}))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:9/steal")
        raw = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


def test_unhealthy_answers_fail_and_reach_the_terminal_harmlessly() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        args = ["doctor", "--check", "node", "--token", "t0k"]
        for name in ("sick", "moved", "broken"):
            args += ["--service", f"{name}={base}/{name}"]
        table = start(args, clean_env())
        report = json_out(run([*args, "--json"], clean_env()))
        table_done = finish(table)
    finally:
        server.shutdown()
        server.server_close()
    checks = checks_of(report)
    assert not any(checks[f"service {name}"]["ok"] for name in ("sick", "moved", "broken"))
    assert "HTTP 302" in checks["service moved"]["details"]  # not followed
    assert "HTTP 503" in checks["service broken"]["details"]
    assert table_done.returncode == 1
    assert "\x1b" not in table_done.stdout and "\\x1b" in table_done.stdout
    names = ("sick", "moved", "broken")
    assert {path for path, _ in _Health.seen} == {f"/{name}/healthz" for name in names}
    assert {auth for _, auth in _Health.seen} == {"Bearer t0k"}


def test_an_optional_tool_that_is_there_but_broken_fails() -> None:
    done = run(["doctor", "--check", "codex-cli", "--json"], clean_env(CODEX_CMD="/bin/false"))
    assert done.returncode == 1
    check = checks_of(json_out(done))["codex-cli"]
    assert not check["ok"] and not check["skipped"] and "exited 1" in check["details"]


def test_the_codex_cli_is_found_where_the_sidecar_looks() -> None:
    if not PROJECT_CODEX.exists():
        reason = "the Codex CLI is not installed: npm install --prefix .codex-cli @openai/codex"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    env = clean_env(CODEX_CMD=str(PROJECT_CODEX))
    done = run(["doctor", "--check", "codex-cli", "--json"], env)
    assert done.returncode == 0, done.stdout
    assert "codex-cli" in checks_of(json_out(done))["codex-cli"]["details"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad_config = tmp_path / "router.json"
    bad_config.write_text('{"model_list": "no"}')
    cases = {
        "check": ["doctor", "--check", "bogus"],
        "service name": ["doctor", "--service", "nope"],
        "service url": ["doctor", "--service", "agent=file:///etc/passwd"],
        "timeout": ["doctor", "--timeout", "nan"],
        "concurrency": ["doctor", "-c", "0"],
        "api base": ["doctor", "--model", "openai/m", "--api-base", "localhost:8000"],
        "router config": ["doctor", "--router-config", str(bad_config)],
        "out": ["doctor", "--out", str(blocker / "dir")],
    }
    for what, args in cases.items():
        done = invoke(args, {})
        assert done.exit_code == 2, (what, done.output)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, what
