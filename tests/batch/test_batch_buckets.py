"""TokenBucket and AsyncTokenBucket: real tokens, no lock held by callers, fair, fail closed.

Rate checks are one-sided bounds (never more than ``capacity + rate * elapsed`` grants): load on
the machine can only make a run slower, so they cannot fail spuriously.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import scillm
from scillm.batch import AsyncTokenBucket, TokenBucket, token_bucket_from_env


@pytest.mark.parametrize("cls", [TokenBucket, AsyncTokenBucket])
@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf")])
def test_a_rate_that_is_not_positive_is_refused(cls: type[TokenBucket], rate: float) -> None:
    with pytest.raises(ValueError, match="rate_per_sec"):
        cls(rate, 5)


def test_other_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(1, 0)
    with pytest.raises(ValueError, match="max_sleep_s"):
        TokenBucket(1, 1, max_sleep_s=-1)
    with pytest.raises(ValueError, match="amount"):
        TokenBucket(1, 1).acquire(0)


def test_starts_full_then_refuses_past_the_timeout_instead_of_letting_through() -> None:
    bucket = TokenBucket(rate_per_sec=0.5, capacity=3, name="t")
    for _ in range(3):
        with bucket.acquire():
            pass
    assert bucket.stats()["slept_s_total"] == 0
    with pytest.raises(scillm.TimeoutError, match="token bucket 't'"):
        bucket.acquire(timeout=0.5)  # the next token is ~2 s away
    stats = bucket.stats()
    assert (stats["acquired"], stats["rejects"], stats["waiting"]) == (3, 1, 0)
    assert set(stats) == {
        "name",
        "acquired",
        "slept_s_total",
        "rejects",
        "last_sleep_s",
        "waiting",
        "tokens",
    }


def test_max_sleep_s_is_the_default_timeout() -> None:
    bucket = TokenBucket(0.5, 1, max_sleep_s=0.1)
    bucket.acquire()
    with pytest.raises(TimeoutError):
        bucket.acquire()


def test_threads_never_get_more_than_capacity_plus_rate_times_elapsed() -> None:
    rate, capacity = 40.0, 4
    bucket = TokenBucket(rate, capacity)
    start = time.monotonic()
    grants: list[float] = []

    def worker() -> None:
        for _ in range(10):
            with bucket.acquire():
                grants.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 40
    assert len(grants) <= capacity + rate * (max(grants) - start) + 1
    assert bucket.stats()["acquired"] == 40


def test_the_body_runs_without_the_bucket_lock() -> None:
    bucket = TokenBucket(100, 2)
    inside = threading.Event()
    other_done = threading.Event()

    def other() -> None:
        inside.wait(10)
        bucket.acquire()
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with bucket.acquire():
        inside.set()
        assert other_done.wait(10), "another thread could not acquire while a body ran"
        with bucket.acquire():  # nested acquire: waits for a refill, never deadlocks
            pass
    thread.join()


def test_sync_with_bucket_takes_a_token() -> None:
    bucket = TokenBucket(10, 2)
    with bucket:
        pass
    assert bucket.stats()["acquired"] == 1


async def test_async_forms_of_the_original_and_the_short_one() -> None:
    bucket = AsyncTokenBucket(100, 3)
    async with await bucket.acquire():
        pass
    async with bucket:
        pass
    stats = bucket.stats()
    assert stats["acquired"] == 2 and stats["name"] == "default-async"


async def test_async_waiters_are_served_in_arrival_order() -> None:
    bucket = AsyncTokenBucket(0.5, 1)
    await bucket.acquire()
    first = asyncio.ensure_future(bucket.acquire())  # reserves the next token (~2 s away)
    await asyncio.sleep(0)
    assert bucket.stats()["waiting"] == 1
    with pytest.raises(TimeoutError):  # a later caller cannot jump the queue
        await bucket.acquire(timeout=3.0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert bucket.stats()["waiting"] == 0


async def test_async_contention_is_shared_evenly() -> None:
    bucket = AsyncTokenBucket(200, 1)
    counts = dict.fromkeys(range(4), 0)
    granted = 0

    async def worker(n: int) -> None:
        nonlocal granted
        while granted < 40:
            await bucket.acquire()
            granted += 1
            counts[n] += 1

    await asyncio.gather(*(worker(n) for n in counts))
    assert min(counts.values()) >= max(counts.values()) / 2, counts  # nobody is starved


async def test_cancelled_waiter_gives_its_token_back() -> None:
    bucket = AsyncTokenBucket(0.5, 2)
    await bucket.acquire(2)
    waiter = asyncio.ensure_future(bucket.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.stats()["tokens"] > -0.5  # the reservation was returned


async def test_amounts_and_adjust_settle_a_token_weighted_limit() -> None:
    bucket = AsyncTokenBucket(1, 100)
    await bucket.acquire(80)
    bucket.adjust(50)  # 50 of the 80 reserved were not used
    assert 69 < bucket.stats()["tokens"] <= 71
    bucket.adjust(1000)  # never above capacity
    assert bucket.stats()["tokens"] == 100
    bucket.adjust(-150)  # a debt: the next caller waits for it
    with pytest.raises(TimeoutError):
        await bucket.acquire(1, timeout=10)


async def test_one_async_bucket_paces_several_event_loops() -> None:
    rate, capacity = 50.0, 2
    bucket = AsyncTokenBucket(rate, capacity)
    start = time.monotonic()

    def other_loop() -> int:
        async def take() -> int:
            for _ in range(10):
                await bucket.acquire()
            return 10

        return asyncio.run(take())

    extra = asyncio.to_thread(other_loop)
    mine = [await bucket.acquire() for _ in range(10)]
    assert await extra + len(mine) <= capacity + rate * (time.monotonic() - start) + 1


def test_from_env_reads_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BUCKET_RATE", "7.5")
    monkeypatch.setenv("SCILLM_BUCKET_CAPACITY", "9")
    bucket = token_bucket_from_env(name="env")
    assert isinstance(bucket, TokenBucket)
    assert (bucket.rate_per_sec, bucket.capacity, bucket.stats()["name"]) == (7.5, 9, "env")
    assert isinstance(AsyncTokenBucket.from_env(), AsyncTokenBucket)
    monkeypatch.setenv("SCILLM_BUCKET_MAX_SLEEP_S", "0")
    strict = TokenBucket.from_env()
    for _ in range(9):
        strict.acquire()
    with pytest.raises(TimeoutError):
        strict.acquire()
    monkeypatch.setenv("SCILLM_BUCKET_MAX_SLEEP_S", "soon")
    with pytest.raises(ValueError, match="SCILLM_BUCKET_MAX_SLEEP_S='soon' is not a number"):
        TokenBucket.from_env(default_max_sleep_s=1.0)
    monkeypatch.delenv("SCILLM_BUCKET_MAX_SLEEP_S")
    monkeypatch.setenv("SCILLM_BUCKET_RATE", "fast")
    with pytest.raises(ValueError, match="SCILLM_BUCKET_RATE"):
        TokenBucket.from_env()


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCILLM_BUCKET_RATE", "SCILLM_BUCKET_CAPACITY", "SCILLM_BUCKET_MAX_SLEEP_S"):
        monkeypatch.delenv(name, raising=False)
    bucket = token_bucket_from_env()
    assert (bucket.rate_per_sec, bucket.capacity) == (3.0, 6)
