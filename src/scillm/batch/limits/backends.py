"""Pick a :class:`~scillm.batch.limits.base.Limiter` backend by URL.

    limiter = make_limiter("redis://127.0.0.1:6379/0", Rates(rpm=500, tpm=200_000), api_key)

Backends: ``"memory"`` (one process: :class:`scillm.router.pacing.LocalLimiter`) and
``redis://…`` (every process of a cluster: :class:`scillm.batch.limits.redis_gcra.RedisLimiter`,
imported only when named: it needs the ``redis`` client).
"""

from __future__ import annotations

from scillm.batch.limits.base import Limiter, Rates, namespace

__all__ = ["make_limiter"]


def make_limiter(url: str, rates: Rates, api_key: str | None) -> Limiter:
    """The limiter named by ``url``: ``memory`` or ``redis://``/``rediss://``/``unix://``."""
    if url == "memory":
        from scillm.router.pacing import LocalLimiter

        return LocalLimiter(rates.rpm, rates.tpm)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from scillm.batch.limits.redis_gcra import RedisLimiter

        return RedisLimiter(url, rates, namespace(api_key))
    raise ValueError(
        f"--limits must be 'memory' or a Redis URL like redis://host:6379/0, got {url!r}"
    )
