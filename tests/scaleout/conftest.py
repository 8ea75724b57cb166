"""Fixtures of the scale-out tests: a real ``redis-server`` on a free loopback port and one local
Ray instance per module (Ray takes seconds to start: share it)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh ``redis-server`` (no persistence) on 127.0.0.1; its URL."""
    import redis

    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def flush_redis(redis_url: str) -> Iterator[str]:
    """``redis_url`` emptied before the test: limits of one test never hold the next."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    yield redis_url


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """One small local Ray for the module (2 logical CPUs, no dashboard)."""
    # Ray's `uv run` hook would package this checkout and start every worker through `uv run`:
    # the workers run this interpreter as they are. Ray reads the flag when it is imported.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray
    from ray._private import ray_constants

    assert not ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV, "Ray was imported before this fixture"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=150 * 1024 * 1024,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        monkeypatch.undo()
