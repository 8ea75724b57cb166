"""``scillm serve all`` / ``serve NAME NAME…``: the supervisor, run as users run it.

One stack (mock + the embedded model + the proxy on a config that points at that model) serves
the whole module: the ready line, the table, health, the wiring, a child killed and restarted, and
finally SIGTERM leaving no process behind. A second, smaller stack is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scillm.service.stack import StackError, StackFile, parse_ports, plan
from scillm.service.supervisor import Supervisor

SCILLM = [sys.executable, "-m", "scillm"]
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WAIT_S = 60.0


class Stack:
    """A ``scillm serve ... --json`` process, its ready line and its stderr (in a file)."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.stderr = log.open("wb")
        self.proc = subprocess.Popen(
            [*SCILLM, "serve", *args, "--free-ports", "--json"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.ready = self._ready_line()
        self.services = {s["name"]: s for s in self.ready["services"]}

    def _ready_line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], WAIT_S)
        assert ready, f"no ready line; stderr:\n{self.text()}"
        line = self.proc.stdout.readline()
        assert line, f"exited with {self.proc.wait()}; stderr:\n{self.text()}"
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while needle not in self.text():
            assert time.monotonic() < deadline, f"never saw {needle!r} in:\n{self.text()}"
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def descendants(pid: int) -> set[int]:
    """Every live process under ``pid``, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_all_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids):
        left = [p for p in pids if alive(p)]
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.05)


def get(url: str) -> int:
    with LOOPBACK.open(url, timeout=10) as resp:
        return int(resp.status)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


PROXY_CONFIG = """
model_list:
  - model_name: small
    litellm_params: {model: openai/smollm2, api_base: os.environ/SCILLM_LOCAL_API_BASE}
general_settings: {master_key: sk-stack-master}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    config = folder / "proxy.yaml"
    config.write_text(PROXY_CONFIG)
    # ``serve A B`` is ``serve all A B``; a proxy config adds the proxy.
    running = Stack(["mock", "local", "--proxy-config", str(config)], folder / "err")
    yield running
    running.close()


def test_the_ready_line_has_one_row_per_service(stack: Stack) -> None:
    assert stack.ready["event"] == "ready"
    assert list(stack.services) == ["local", "mock", "proxy"]  # start order: the model first
    for name in ("local", "mock"):
        row = stack.services[name]
        assert row["status"] == "up" and row["missing"] == [] and row["restarts"] == 0
        assert row["url"].startswith("http://127.0.0.1:") and row["pid"] > 0
    assert stack.services["proxy"]["status"] == "up"


def test_the_proxy_joins_the_stack_on_its_model(stack: Stack) -> None:
    body = {"model": "small", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    request = urllib.request.Request(
        stack.services["proxy"]["url"] + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"authorization": "Bearer sk-stack-master", "content-type": "application/json"},
    )
    with LOOPBACK.open(request, timeout=60) as resp:
        reply = json.load(resp)
    assert reply["object"] == "chat.completion" and reply["usage"]["completion_tokens"] >= 1
    without = plan(StackFile(), ["proxy"])
    assert without[0].missing and "--proxy-config" in without[0].missing[0]


def test_the_table_is_printed_once_on_stderr(stack: Stack) -> None:
    text = stack.text()
    headers = [line.split() for line in text.splitlines() if line.startswith("service ")]
    assert headers == [["service", "url", "status", "missing"]]
    mock = stack.services["mock"]
    assert any(line.split()[:3] == ["mock", mock["url"], "up"] for line in text.splitlines())


def test_services_answer_and_are_wired_to_the_stacks_model(stack: Stack) -> None:
    mock, local = stack.services["mock"], stack.services["local"]
    assert get(mock["url"] + "/healthz") == 200
    assert get(local["url"] + "/health") == 200
    environ = Path(f"/proc/{mock['pid']}/environ").read_bytes().split(b"\0")
    assert f"SCILLM_LOCAL_API_BASE={local['url']}/v1".encode() in environ


def test_a_killed_child_is_restarted_on_the_same_port(stack: Stack) -> None:
    mock = stack.services["mock"]
    os.kill(mock["pid"], signal.SIGKILL)
    stack.wait_for("mock exited (signal 9); restarting in")
    stack.wait_for("mock is up again")
    assert get(mock["url"] + "/healthz") == 200
    now = [p for p in descendants(stack.proc.pid) if "serve mock" in cmdline(p)]
    assert len(now) == 1 and now[0] != mock["pid"]


def test_sigterm_stops_everything_and_leaves_nothing_behind(stack: Stack) -> None:
    family = descendants(stack.proc.pid)
    llama = [p for p in family if "local.embedded" in cmdline(p)]
    assert len(family) >= 3 and llama  # both services and llama.cpp's process
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=30) == 0
    assert_all_gone(family)
    with pytest.raises(OSError):
        get(stack.services["mock"]["url"] + "/healthz")


def test_a_sigkilled_supervisor_takes_its_children_and_theirs_along(tmp_path: Path) -> None:
    stack = Stack(["all", "local", "mock"], tmp_path / "err")
    try:
        family = descendants(stack.proc.pid)
        assert any("local.embedded" in cmdline(p) for p in family)
        stack.proc.kill()
        stack.proc.wait()
        assert_all_gone(family)
    finally:
        stack.close()


def test_a_busy_port_is_one_line_exit_2_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for name in ("mock", "local"):  # handed a socket, or binding its own
            done = subprocess.run(
                [*SCILLM, "serve", "all", "local", "mock", "--free-ports", f"--port={name}={port}"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 2, done.stderr
            lines = done.stderr.splitlines()
            assert len(lines) == 1 and str(port) in lines[0] and "--port" in lines[0], lines
            assert lines[0].startswith("error: ") and done.stdout == ""


def test_config_file_mistakes_are_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "stack.yaml"
    bad.write_text("services:\n  agent: {port: 99999}\n")
    done = subprocess.run(
        [*SCILLM, "serve", "all", "--config", str(bad)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {bad}: services.agent.port must be a port number (0-65535), got 99999"
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("services: [agent\n", "is not valid YAML"),
        ("hosts: x\n", "unknown key(s) in the file: hosts"),
        ("services: [agnet]\n", "unknown key(s) in services: agnet"),
        ("services: {mock: {prot: 1}}\n", "unknown key(s) in services.mock: prot"),
        ("services: {mock: {port: true}}\n", "services.mock.port must be a port number"),
        ("services: {mock: {env: [A]}}\n", "services.mock.env must map variable names"),
        ("services: {mock: {options: {a: 1}}}\n", "services.mock.options must be a list"),
        ("host: ''\n", "host must be a non-empty string"),
        ("- mock\n", "the file must be a mapping"),
    ],
)
def test_stack_file_errors_say_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    with pytest.raises(StackError) as caught:
        StackFile.load(path)
    assert says in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_flag_and_name_mistakes() -> None:
    with pytest.raises(StackError, match="NAME=PORT"):
        parse_ports(["8000"])
    with pytest.raises(StackError, match="port number"):
        parse_ports(["mock=-1"])
    with pytest.raises(StackError, match="unknown service 'nope'"):
        plan(StackFile(), ["nope"])
    with pytest.raises(StackError, match="not being started"):
        plan(StackFile(), ["mock"], ports={"agent": 9000})
    with pytest.raises(StackError, match="cannot read the stack file"):
        StackFile.load("/nonexistent/stack.yaml")


def test_plan_precedence_flag_over_free_over_file_over_default() -> None:
    services = {"mock": {"port": 9001}, "agent": None}
    stack = StackFile.parse({"host": "127.0.0.2", "services": services})
    planned = {p.name: p for p in plan(stack)}
    assert list(planned) == ["mock", "agent"]
    assert planned["mock"].port == 9001 and planned["agent"].port == 8788
    assert planned["mock"].host == "127.0.0.2"
    free = {p.name: p.port for p in plan(stack, free_ports=True, ports={"agent": 9002})}
    assert free == {"mock": 0, "agent": 9002}
    assert plan(stack, host="127.0.0.3")[0].host == "127.0.0.3"
    default = [p.name for p in plan(StackFile())]
    assert "proxy" not in default and default[:2] == ["local", "mock"]


def test_the_python_api_starts_and_stops_a_stack() -> None:
    services = plan(StackFile(), ["mock"], free_ports=True)
    with Supervisor(services, health_timeout=30) as supervisor:
        (row,) = supervisor.statuses()
        assert row.status == "up" and row.pid is not None
        assert get(supervisor.urls["mock"] + "/healthz") == 200
        pid = row.pid
    assert not alive(pid)
    assert supervisor.statuses()[0].status == "stopped"


def test_the_codex_cli_is_found_in_the_project_or_reported_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CODEX_CMD", raising=False)
    for name in ("CODEX_SIDECAR_ECHO", "CODEX_ECHO_MODE"):
        monkeypatch.delenv(name, raising=False)
    (sidecar,) = plan(StackFile(), ["codex-sidecar"])
    assert sidecar.missing and "the Codex CLI" in sidecar.missing[0]
    codex = tmp_path / ".codex-cli" / "node_modules" / ".bin" / "codex"
    codex.parent.mkdir(parents=True)
    codex.write_text("#!/bin/sh\n")
    codex.chmod(0o755)
    (sidecar,) = plan(StackFile(), ["codex-sidecar"])
    assert sidecar.missing == () and sidecar.env["CODEX_CMD"] == str(codex)
    echo = StackFile.parse({"services": {"codex-sidecar": {"options": ["--echo"]}}})
    monkeypatch.chdir("/")
    assert plan(echo)[0].missing == ()  # echoing needs no CLI
