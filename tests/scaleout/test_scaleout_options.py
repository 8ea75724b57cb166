"""The scale-out options are checked before any call; the Redis limiter's keys and cooldown;
a Router paced from outside ignores the provider's quota headers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from scaleout_helpers import MODEL, write_rows

from scillm.batch.command import BatchOptions, InputError, prepare
from scillm.batch.limits.backends import make_limiter
from scillm.batch.limits.base import Rates, namespace
from scillm.batch.limits.redis_gcra import RedisLimiter
from scillm.errors import TimeoutError
from scillm.router import Router
from scillm.scaleout import run_batch
from scillm.testing import Fault, MockLLMServer

NO_QUOTA_LEFT = {  # the provider says: nothing more for a minute
    "x-ratelimit-limit-requests": "100",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "60s",
}
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "mock-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def _refused(tmp_path: Path, **kw: object) -> str:
    src = write_rows(tmp_path / "in.jsonl", 2)
    options = BatchOptions(src, tmp_path / "out.jsonl", model=MODEL, **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError) as info:
        prepare(options)
    return str(info.value)


def test_bad_scaleout_options_are_refused_before_any_call(tmp_path: Path) -> None:
    assert "'local' or 'ray'" in _refused(tmp_path, executor="dask")
    assert "--workers must be at least 1" in _refused(tmp_path, executor="ray", workers=0)
    assert "--shard-rows must be at least 1" in _refused(tmp_path, shard_rows=0)
    assert "add --limits redis://" in _refused(tmp_path, executor="ray", rpm=60)
    assert "Redis URL" in _refused(tmp_path, limits="http://example.com")
    assert "cannot reach Redis" in _refused(tmp_path, limits="redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="unknown executor_options"):
        run_batch(tmp_path / "in.jsonl", tmp_path / "o.jsonl", executor_options={"nodes": 3})


@pytest.mark.requires("redis-server", apt="redis-server")
def test_keys_hash_the_api_key_and_a_cooldown_only_grows(flush_redis: str) -> None:
    secret = "sk-very-secret-key"
    limiter = make_limiter(flush_redis, Rates(rpm=600, tpm=60_000), secret)
    assert isinstance(limiter, RedisLimiter)

    async def use() -> None:
        assert await limiter.acquire("api.example", 100) == 100
        await limiter.penalize("api.example", 5.0)
        await limiter.penalize("api.example", 0.5)  # a shorter Retry-After never cuts it
        await limiter.aclose()

    asyncio.run(use())
    with redis.Redis.from_url(flush_redis) as client:
        keys = sorted(k.decode() for k in client.keys("*"))
        ns = namespace(secret)
        assert keys == [f"scillm:{ns}:api.example:{kind}" for kind in ("cooldown", "rpm", "tpm")]
        assert all(secret not in key for key in keys)
        assert client.pttl(f"scillm:{ns}:api.example:cooldown") > 4000


def test_the_in_process_pacer_is_a_limiter() -> None:
    from scillm.batch.limits.base import Limiter
    from scillm.router.pacing import LocalLimiter

    limiter = make_limiter("memory", Rates(tpm=60_000), None)
    assert isinstance(limiter, LocalLimiter) and isinstance(limiter, Limiter)

    async def use() -> tuple[int, float]:
        charged = await limiter.acquire("e", 500)
        await limiter.settle("e", charged, 10)  # the unused 490 tokens are refunded
        await limiter.penalize("e", 30.0)
        return charged, limiter._pacer("e").paused_until

    charged, paused_until = asyncio.run(use())
    assert charged == 500
    assert paused_until > 0  # every caller in this process now waits for the Retry-After


@pytest.mark.parametrize("pacing", ["default", "off", "off-by-env"])
def test_pace_from_headers_off_ignores_a_quota_header_saying_wait(
    pacing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pacing == "off-by-env":
        monkeypatch.setenv("SCILLM_PACE_FROM_HEADERS", "0")
    with MockLLMServer() as srv:
        srv.enqueue(Fault.http(200, COMPLETION, NO_QUOTA_LEFT))
        router = Router(pace_from_headers=False if pacing == "off" else None)
        call = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "api_base": srv.base_url,
            "api_key": "k",
        }
        try:
            assert router.completion(**call).choices[0].message.content == "ok"
            if pacing == "default":  # the headers hold the endpoint for 60 s: past the deadline
                with pytest.raises(TimeoutError):
                    router.completion(**call, timeout=0.5)
                assert len(srv.requests) == 1
            else:
                router.completion(**call, timeout=30)
                assert len(srv.requests) == 2
        finally:
            router.close()


def test_batch_with_global_limits_builds_routers_that_ignore_quota_headers(
    tmp_path: Path,
) -> None:
    src = write_rows(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    cases = {
        "ray": (BatchOptions(src, out, model=MODEL, executor="ray", workers=1, rpm=60), False),
        "limits": (BatchOptions(src, out, model=MODEL, limits="memory", tpm=6000), False),
        "local": (BatchOptions(src, out, model=MODEL, rpm=60), True),
    }
    for name, (options, from_headers) in cases.items():
        plan = prepare(options)
        try:
            assert plan.router.pipeline.pace_from_headers is from_headers, name
        finally:
            plan.close()
