"""litellm's config.yaml as the gateway reads it: what is applied, what is warned about, and a
bad config as one error naming its place in the YAML (exit status 2 from the command)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from proxy_helpers import MASTER, deployment

from scillm.proxy.config import ConfigError, load_config, parse_config
from scillm.testing import MockLLMServer

BIN = Path(sys.executable).parent
BASE = "http://127.0.0.1:9/v1"


def _config(**extra: Any) -> dict[str, Any]:
    return {"model_list": [deployment("fast", BASE), deployment("slow", BASE)], **extra}


def test_litellm_settings_are_applied() -> None:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "fast",
                    "litellm_params": {
                        "model": "openai/m",
                        "api_base": "os.environ/MY_BASE",
                        "api_key": "os.environ/MY_KEY",
                        "rpm": 60,
                        "temperature": 0.2,
                    },
                },
                deployment("slow", BASE),
            ],
            "router_settings": {
                "routing_strategy": "latency-based-routing",
                "num_retries": 4,
                "cooldown_time": 7,
            },
            "litellm_settings": {
                "request_timeout": 30,
                "fallbacks": [{"fast": ["slow"]}],
                "drop_params": True,
            },
            "general_settings": {"master_key": "os.environ/MASTER"},
        },
        environ={"MY_BASE": "http://10.0.0.1/v1", "MY_KEY": "k", "MASTER": MASTER},
    )
    params = config.model_list[0]["litellm_params"]
    assert params == {
        "model": "openai/m", "api_base": "http://10.0.0.1/v1", "api_key": "k", "rpm": 60,
        "temperature": 0.2,
    }  # fmt: skip
    assert config.router == {
        "routing_strategy": "latency",
        "num_retries": 4,
        "timeout": 30.0,
        "cooldown_s": 7.0,
        "fallbacks": [{"fast": ["slow"]}],
    }
    assert config.master_key == MASTER and config.drop_params and config.warnings == []


def test_unknown_settings_are_warned_by_name() -> None:
    config = parse_config(
        _config(
            router_settings={"allowed_fails": 3, "redis_host": "r"},  # the first is applied
            litellm_settings={"success_callback": ["langfuse"], "num_retries": 1},
            general_settings={"master_key": MASTER, "database_url": "postgres://"},
            environment_variables={"X": "1"},
        )
        | {"model_list": [{"model_name": "fast", "litellm_params": {
            "model": "openai/m", "api_base": BASE, "stream_timeout": 5, "max_retries": 0}}]}
    )  # fmt: skip
    joined = "\n".join(config.warnings)
    assert config.router["allowed_fails"] == 3 and "allowed_fails" not in joined
    for name in (
        "router_settings.redis_host",
        "litellm_settings.success_callback",
        "general_settings.database_url",
        "environment_variables",
        "model_list[0].litellm_params.stream_timeout",
        "model_list[0].litellm_params.max_retries",
    ):
        assert name in joined, name
    assert "max_retries" not in config.model_list[0]["litellm_params"]  # never sent upstream
    assert config.router["num_retries"] == 1


def test_router_settings_win_over_litellm_settings_with_a_warning() -> None:
    config = parse_config(
        _config(router_settings={"num_retries": 3}, litellm_settings={"num_retries": 1})
    )
    assert config.router["num_retries"] == 3
    assert any("differ" in w for w in config.warnings)


def test_default_fallbacks_cover_every_other_group() -> None:
    config = parse_config(_config(litellm_settings={"default_fallbacks": ["slow"]}))
    assert config.router["fallbacks"] == [{"fast": ["slow"]}]


BAD: list[tuple[Any, str]] = [
    ([], "(top level)"),
    ({}, "model_list"),
    ({"model_list": [{"model_name": "x"}]}, "model_list[0].litellm_params"),
    ({"model_list": [{"model_name": "", "litellm_params": {"model": "openai/m"}}]},
     "model_list[0].model_name"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/m",
      "api_key": "os.environ/SCILLM_TEST_UNSET_VAR"}}]},
     "model_list[0].litellm_params.api_key: environment variable SCILLM_TEST_UNSET_VAR"),
    (_config(router_settings={"routing_strategy": "cost-based-routing"}),
     "router_settings.routing_strategy"),
    (_config(router_settings={"num_retries": -1}), "router_settings.num_retries"),
    (_config(litellm_settings={"request_timeout": "soon"}), "litellm_settings.request_timeout"),
    (_config(router_settings={"fallbacks": [{"fast": ["nowhere"]}]}),
     "router_settings.fallbacks[0].fast[0]"),
    (_config(router_settings={"fallbacks": {"fast": "slow"}}), "router_settings.fallbacks"),
    (_config(litellm_settings={"drop_params": "yes"}), "litellm_settings.drop_params"),
    (_config(general_settings={"master_key": 1234}), "general_settings.master_key"),
    (_config(virtual_keys=[{"key_alias": "a"}]), "virtual_keys[0].key"),
    (_config(virtual_keys=[{"key": "k", "rpm_limit": 0}]), "virtual_keys[0].rpm_limit"),
    (_config(virtual_keys=[{"key": "k", "models": ["gpt-9"]}]), "virtual_keys[0].models[0]"),
    (_config(virtual_keys=[{"key": "k"}, {"key": "k"}]), "virtual_keys[1].key"),
    (_config(general_settings={"master_key": "k"}, virtual_keys=[{"key": "k"}]),
     "virtual_keys[0].key"),
    (_config(virtual_keys=[{"key": "k", "key_alias": "master"}]), "virtual_keys[0].key_alias"),
    (_config(virtual_keys=[{"key": "k", "max_budget": 5}]),
     "virtual_keys[0].max_budget: a budget in dollars needs prices"),
    ({"model_list": [deployment("x", BASE, input_cost_per_token=1e-6)]},
     "model_list[0].model_info.output_cost_per_token"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "path"), BAD, ids=[p for _, p in BAD])
def test_a_bad_config_names_the_path(raw: Any, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, environ={})
    assert str(caught.value).startswith(path), str(caught.value)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "scillm"), "serve", "proxy", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_the_command_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(yaml.safe_dump(_config(router_settings={"fallbacks": [{"fast": ["x"]}]})))
    done = _run("--config", str(bad), "--port", "0")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {bad}: router_settings.fallbacks[0].fast[0]")
    done = _run("--config", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2 and "cannot read the proxy config" in done.stderr


@pytest.mark.parametrize(
    ("text", "why"),
    [("model_list: [\n", "is not valid YAML"), ("", "(top level)"), (b"\xff\xfe", "cannot read")],
)
def test_an_unreadable_file(tmp_path: Path, text: str | bytes, why: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=re.escape(why)):
        load_config(path)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLMServer]:
    with MockLLMServer() as server:
        yield server


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err


def test_console_script_on_an_inherited_socket(mock: MockLLMServer, tmp_path: Path) -> None:
    """As ``scillm serve all`` starts it: a socket bound by the parent, ``--fd N``."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [deployment("fast", "os.environ/UPSTREAM")],
                "general_settings": {"master_key": "os.environ/PROXY_MASTER"},
                "litellm_settings": {"set_verbose": True},
            }
        )
    )
    log = tmp_path / "usage.jsonl"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = {**os.environ, "UPSTREAM": mock.base_url, "PROXY_MASTER": MASTER}
    proc = subprocess.Popen(
        [str(BIN / "scillm-proxy"), "--config", str(config), "--fd", str(sock.fileno()),
         "--usage-log", str(log)],
        stderr=subprocess.PIPE, text=True, env=env, pass_fds=[sock.fileno()],
    )  # fmt: skip
    sock.close()
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(2)]
        assert "litellm_settings.set_verbose" in lines[0]
        assert f"scillm proxy on http://127.0.0.1:{port}" in lines[1]
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=MASTER) as c:
            reply = c.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "from a child"}]
            )
        assert reply.choices[0].message.content == "from a child"
    finally:
        err = _stop(proc)
    assert MASTER not in err and MASTER not in log.read_text()
    assert log.read_text().count("\n") == 1


def test_beyond_loopback_the_generated_token_is_the_master_key(
    mock: MockLLMServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model_list": [deployment("fast", mock.base_url)]}))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    proc = subprocess.Popen(
        [str(BIN / "scillm"), "serve", "proxy", "--config", str(config), "--host", "0.0.0.0",
         "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        announced = proc.stderr.readline()
        port = re.search(r":(\d+) ", announced)
        token = re.search(r"token: (\S+)", proc.stderr.readline())
        assert port and token, announced
        url = f"http://127.0.0.1:{port.group(1)}/v1/chat/completions"
        body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url, json=body).status_code == 401
        auth = {"authorization": f"Bearer {token.group(1)}"}
        assert httpx.post(url, json=body, headers=auth).status_code == 200
    finally:
        _stop(proc)
