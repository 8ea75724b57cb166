"""``deploy/compose.yml`` and ``deploy/Dockerfile`` checked without Docker (there is no engine
here): the services, ports, commands and health checks must be those of the service catalog
and of the ``scillm serve`` commands that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from scillm.cli import app
from scillm.service import ServiceConfig
from scillm.service.catalog import SERVICES

DEPLOY = Path(__file__).parents[1] / "deploy"
STACK = sorted(name for name, spec in SERVICES.items() if spec.default)
SANDBOXED = ("agent", "codeworld", "certainly")  # they run untrusted code or provers in bwrap


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def serve_commands() -> dict[str, Any]:
    """The ``scillm serve NAME`` commands, as the command line builds them."""
    group: Any = typer.main.get_command(app)
    return dict(group.commands["serve"].commands)


def options_of(command: Any) -> set[str]:
    return {opt for param in command.params for opt in param.opts}


def test_the_same_services_as_serve_all(compose: dict[str, Any]) -> None:
    assert sorted(compose["services"]) == STACK


@pytest.mark.parametrize("name", STACK)
def test_each_service_runs_its_serve_command_on_its_port(
    name: str, compose: dict[str, Any], serve_commands: dict[str, Any]
) -> None:
    service, port = compose["services"][name], SERVICES[name].port
    assert service.get("image") or service.get("build"), name
    build = service["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    command = service["command"]
    assert command == ["scillm", "serve", name, "--host", "0.0.0.0", "--port", str(port)]
    assert name in serve_commands, f"scillm serve {name} does not exist"
    assert {"--host", "--port"} <= options_of(serve_commands[name]), name
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]  # published on host loopback only


@pytest.mark.parametrize("name", STACK)
def test_each_health_check_asks_the_catalog_health_path(name: str, compose: dict[str, Any]) -> None:
    check = compose["services"][name]["healthcheck"]
    test = check["test"]
    assert test[0] == "CMD" and test[1] == "python"  # python is in the image; curl is not
    url = urlsplit(test[-1])
    assert (url.hostname, url.port, url.path) == (
        "127.0.0.1",
        SERVICES[name].port,
        SERVICES[name].health,
    )
    assert all(key in check for key in ("interval", "timeout", "retries", "start_period"))


def test_the_token_is_required_and_is_the_one_services_read(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in compose["services"].items():
        token = service["environment"]["SCILLM_SERVICE_TOKEN"]
        assert token.startswith("${SCILLM_SERVICE_TOKEN:?"), name  # compose refuses to start
    monkeypatch.setenv("SCILLM_SERVICE_TOKEN", "from-compose")
    for name in STACK:
        config = ServiceConfig.from_env(name, host="0.0.0.0").secured()
        assert config.token == "from-compose" and not config.token_generated, name


def test_sandboxed_services_get_what_bwrap_needs(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        caps, options = set(service.get("cap_add", ())), set(service.get("security_opt", ()))
        if name in SANDBOXED:
            assert {"SYS_ADMIN", "NET_ADMIN"} <= caps, name
            assert {"seccomp=unconfined", "systempaths=unconfined"} <= options, name
        else:
            assert not caps and not options, name
        assert not service.get("privileged"), name


def test_the_image_has_every_tool_the_services_need() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for package in ("bubblewrap", "coq", "nodejs", "gcc", "@openai/codex@"):
        assert package in dockerfile, package
    assert "uv sync --locked" in dockerfile
    for extra in ("serve", "agent", "local"):
        assert f"--extra {extra}" in dockerfile, extra
