"""The scale-out options are checked before any call; the Redis limiter's keys and cooldown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from scaleout_helpers import MODEL, write_rows

from scillm.batch.command import BatchOptions, InputError, prepare
from scillm.scaleout import run_batch
from scillm.scaleout.limits import Rates, make_limiter, namespace
from scillm.scaleout.redis_gcra import RedisLimiter


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
    from scillm.router.pacing import LocalLimiter
    from scillm.scaleout.limits import Limiter

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
