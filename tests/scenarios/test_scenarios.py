"""``scillm scenarios``: every scenario passes on a real stack, and none passes by accident.

The stack is real (each service its own process); attacks point a scenario at a service that
lies (a sidecar in echo mode, bridges that call every program and lemma good) and it must fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from scenario_helpers import SCILLM, clean_env, free_port, services
from typer.testing import CliRunner

from scillm.cli import app
from scillm.scenarios.registry import MODULES
from scillm.testing._background import BackgroundServer

RUN_TIMEOUT_S = 600


def scenarios(*args: str, env: dict[str, str], cwd: str | None = None) -> tuple[int, Any]:
    """``python -m scillm scenarios ARGS --json``: exit status and the parsed report."""
    proc = subprocess.run(
        [*SCILLM, "scenarios", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )
    assert proc.stdout.count("\n") == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["status"] for r in report["results"]}


@pytest.mark.requires("bwrap", apt="bubblewrap")
@pytest.mark.requires("coqc", apt="coq")
def test_run_all_passes_every_scenario_on_a_running_stack(stack: dict[str, str]) -> None:
    code, report = scenarios("run-all", env=clean_env(**stack))
    details = {r["name"]: r["detail"] for r in report["results"]}
    assert statuses(report) == dict.fromkeys(MODULES, "passed"), details
    assert (report["passed"], report["skipped"], report["failed"]) == (len(MODULES), 0, 0)
    assert report["started"] == [] and report["not_run"] == [] and code == 0
    assert (
        "lean4 part skipped" in details["certainly_bridge"]
        or "lean4 4" in details["certainly_bridge"]
    )


@pytest.mark.requires("bwrap", apt="bubblewrap")
def test_a_down_service_is_started_for_the_run_and_stopped_after() -> None:
    code, report = scenarios("run", "codeworld-bridge", env=clean_env())
    if report["started"] == []:  # something already answers on the catalog's port
        pytest.skip("a CodeWorld bridge already listens on 127.0.0.1:8887")
    assert report["started"] == ["codeworld"]
    assert statuses(report) == {"codeworld_bridge": "passed"} and code == 0


def test_an_explicit_url_that_does_not_answer_fails_not_skips() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "scillm.scenarios.codeworld_bridge"],
        env=clean_env(CODEWORLD_URL=url),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL codeworld_bridge" in proc.stdout and "CODEWORLD_URL" in proc.stdout
    assert "0 passed, 0 skipped, 1 failed" in proc.stdout


def test_stop_on_first_failure_leaves_the_rest_not_run() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = clean_env(CODEWORLD_URL=down, CERTAINLY_URL=down, SCENARIOS_STOP_ON_FIRST_FAILURE="1")
    code, report = scenarios("run", "codeworld_bridge", "certainly_bridge", env=env)
    assert code == 1 and report["failed"] == 1 and report["not_run"] == ["certainly_bridge"]
    env["SCENARIOS_STOP_ON_FIRST_FAILURE"] = "0"
    code, report = scenarios("run", "codeworld_bridge", "certainly_bridge", env=env)
    assert code == 1 and report["failed"] == 2 and report["not_run"] == []


def test_a_missing_tool_skips_with_its_name_and_all_skipped_is_77(tmp_path: Any) -> None:
    env = clean_env(CODEX_CMD=str(tmp_path / "no-codex"), PATH=os.path.dirname(sys.executable))
    code, report = scenarios("run", "codex_agent_router", env=env, cwd=str(tmp_path))
    [result] = report["results"]
    assert result["status"] == "skipped" and code == 77
    assert "Codex CLI is not installed" in result["detail"] and "no-codex" in result["detail"]
    assert (report["passed"], report["skipped"], report["failed"]) == (0, 1, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_scenario"], "unknown scenario 'no_such_scenario'"),
        (["run-all"], "CODEWORLD_URL='file:///etc/passwd' is not an http(s) URL"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEWORLD_URL", "file:///etc/passwd")
    result = CliRunner().invoke(app, ["scenarios", *args])
    err = result.stderr
    assert result.exit_code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_the_list_names_every_scenario_in_run_order() -> None:
    result = CliRunner().invoke(app, ["scenarios", "list", "--json"])
    assert [s["name"] for s in json.loads(result.stdout)] == list(MODULES)


# Attacks: services that lie. Each scenario must fail against them, never pass.


def test_a_sidecar_in_echo_mode_fails_the_codex_scenario() -> None:
    with services({"codex-sidecar": ["serve", "codex-sidecar", "--echo"]}) as urls:
        env = clean_env(CODEX_SIDECAR_URL=urls["codex-sidecar"])
        code, report = scenarios("run", "codex_agent_router", env=env)
    [result] = report["results"]
    assert code == 1 and result["status"] == "failed" and "echo mode" in result["detail"]


def lying_bridge() -> web.Application:
    """Healthy; calls every CodeWorld variant correct and every Certainly item proved."""

    async def health(request: web.Request) -> web.Response:
        probe = {"status": "ok", "wall_ms": 1}
        backends = {"coq": {"available": True, "version": "8.16.1"}, "lean4": {}}
        body = {"ok": True, "probe": probe, "isolation": "none", "backends": backends}
        return web.json_response(body)

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        if "provider" in body:  # CodeWorld: every variant passes every test
            results = []
            for item in body["items"]:
                tests = [
                    {"verdict": "passed", "output": t["expected"], "message": ""}
                    for t in item["tests"]
                ]
                variants = [
                    {
                        "id": v,
                        "tests": tests,
                        "scores": {"correctness": 1.0},
                        "passed": len(tests),
                        "total": len(tests),
                        "origin": "given",
                    }
                    for v in item["variants"]
                ]
                results.append(
                    {
                        "item_id": item["id"],
                        "status": "solved",
                        "best_variant": variants[0]["id"],
                        "tests": tests,
                        "ranking": [v["id"] for v in variants],
                        "variants": variants,
                        "search": None,
                        "pass_rate": 1.0,
                    }
                )
            return web.json_response({"results": results, "summary": {}, "usage": {}})
        results = [{"item_id": i["id"], "status": "proved"} for i in body["items"]]
        return web.json_response({"results": results, "summary": {"proved": len(results)}})

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_post("/bridge/complete", complete)
    return app


@pytest.fixture(scope="module")
def liar() -> Iterator[str]:
    server = BackgroundServer(lying_bridge, "127.0.0.1", 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("name", "variable"),
    [("codeworld_bridge", "CODEWORLD_URL"), ("certainly_bridge", "CERTAINLY_URL")],
)
def test_a_bridge_that_approves_everything_fails_its_scenario(
    liar: str, name: str, variable: str
) -> None:
    code, report = scenarios("run", name, env=clean_env(**{variable: liar}))
    [result] = report["results"]
    assert code == 1 and result["status"] == "failed", result
