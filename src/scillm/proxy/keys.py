"""Who may call the gateway, which models, how often and how much.

    ring = KeyRing(master_key, virtual_keys, prices)
    account = ring.authenticate(request.headers.get("authorization"))   # 401
    ring.admit(account, "fast")                                          # 403, 429
    ...
    ring.settle(account, usage, deployment_id)                           # tokens and dollars

Keys are looked up by their SHA-256, so a comparison never reveals how much of a key matched;
only the alias is ever written anywhere. ``rpm_limit``/``tpm_limit`` are sliding 60-second
windows over every client of a key (a request past them is answered 429 with ``Retry-After``, not
queued); budgets count tokens (``max_budget_tokens``) or dollars (``max_budget``, from the
config's prices) since the usage log began, and a key whose budget is spent gets 429
``insufficient_quota``. Requests already running when a limit is reached still finish.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scillm.proxy.config import Price, VirtualKey
from scillm.service.errors import ApiError

__all__ = ["WINDOW_S", "Account", "KeyRing"]

WINDOW_S = 60.0
MASTER_ALIAS = "master"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(eq=False)
class Account:
    """One key's standing: its limits and what it used."""

    alias: str | None
    key: VirtualKey | None = None
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    window_tokens: int = 0
    spent_tokens: int = 0
    spent_usd: float = 0.0

    def may_call(self, model: str) -> bool:
        return self.key is None or not self.key.models or model in self.key.models


class KeyRing:
    """The master key and the virtual keys; with neither, the gateway is open (loopback)."""

    def __init__(
        self, master_key: str | None, keys: Iterable[VirtualKey], prices: Mapping[str, Price]
    ) -> None:
        self._accounts: dict[bytes, Account] = {}
        if master_key:
            self._accounts[_digest(master_key)] = Account(MASTER_ALIAS)
        for key in keys:
            self._accounts[_digest(key.key)] = Account(key.alias, key)
        self.prices = prices
        self.open = not self._accounts
        self._anonymous = Account(None)

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def authenticate(self, authorization: str | None) -> Account:
        """The account of an ``Authorization: Bearer KEY`` header; ApiError 401 if none."""
        if self.open:
            return self._anonymous
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "no API key: send 'Authorization: Bearer <key>' with the proxy's master key "
                "or a virtual key of its config",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        account = self._accounts.get(_digest(token.strip()))
        if account is None:
            raise ApiError(
                401,
                "invalid API key: it is neither the master key nor a virtual key of this proxy",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return account

    def admit(self, account: Account, model: str) -> None:
        """Let one request of ``account`` for ``model`` start, or raise 403/429."""
        key = account.key
        if key is None:
            return
        if not account.may_call(model):
            raise ApiError(
                403,
                f"key {key.alias!r} may not call model {model!r}; it may call: "
                f"{', '.join(sorted(key.models))}",
                code="model_not_allowed",
                param="model",
            )
        self._check_budget(account, key)
        now = time.monotonic()
        if key.rpm is not None:
            times = account.requests
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= key.rpm:
                self._too_many(key, "rpm_limit", key.rpm, "requests", times[0] + WINDOW_S - now)
        if key.tpm is not None:
            self._expire_tokens(account, now)
            if account.window_tokens >= key.tpm:
                wait = account.tokens[0][0] + WINDOW_S - now
                self._too_many(key, "tpm_limit", key.tpm, "tokens", wait)
        if key.rpm is not None:
            account.requests.append(now)

    def settle(self, account: Account, usage: Any, deployment: str | None) -> float | None:
        """Count a finished request's ``usage``; its cost in dollars when the price is known."""
        prompt, completion = _tokens(usage)
        total = prompt + completion
        cost = None
        price = self.prices.get(deployment) if deployment is not None else None
        if price is not None:
            cost = price.cost(prompt, completion)
            account.spent_usd += cost
        account.spent_tokens += total
        key = account.key
        if key is not None and key.tpm is not None and total:
            account.tokens.append((time.monotonic(), total))
            account.window_tokens += total
        return cost

    def restore(self, spent: Mapping[str, tuple[int, float]]) -> None:
        """Start from what each alias spent before (read from the usage log)."""
        for account in self._accounts.values():
            if account.alias is not None and account.alias in spent:
                account.spent_tokens, account.spent_usd = spent[account.alias]

    @staticmethod
    def _check_budget(account: Account, key: VirtualKey) -> None:
        over = None
        if key.max_budget_tokens is not None and account.spent_tokens >= key.max_budget_tokens:
            over = f"its max_budget_tokens of {key.max_budget_tokens:,} tokens"
        elif key.max_budget_usd is not None and account.spent_usd >= key.max_budget_usd:
            over = f"its max_budget of ${key.max_budget_usd:g}"
        if over is not None:
            raise ApiError(
                429,
                f"key {key.alias!r} has spent {over}; ask the proxy's operator to raise it",
                type="insufficient_quota",
                code="insufficient_quota",
            )

    @staticmethod
    def _expire_tokens(account: Account, now: float) -> None:
        tokens = account.tokens
        while tokens and tokens[0][0] <= now - WINDOW_S:
            account.window_tokens -= tokens.popleft()[1]

    @staticmethod
    def _too_many(key: VirtualKey, limit: str, value: int, what: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"key {key.alias!r} is over its {limit} of {value:,} {what} a minute; "
            f"retry in {seconds} s",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(seconds)},
        )


def _tokens(usage: Any) -> tuple[int, int]:
    if not isinstance(usage, Mapping):
        return 0, 0
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    if not prompt and not completion and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"]), 0
    return prompt, completion
