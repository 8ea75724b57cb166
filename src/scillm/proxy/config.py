"""litellm's proxy ``config.yaml``, read into what scillm's gateway runs: a Router and keys.

    model_list:                          # litellm's shape; os.environ/NAME reads a variable
      - model_name: fast
        litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY, rpm: 500}
        model_info: {input_cost_per_token: 1.5e-7, output_cost_per_token: 6.0e-7}
    router_settings: {routing_strategy: simple-shuffle, num_retries: 2, timeout: 30,
                      fallbacks: [{fast: [slow]}], cooldown_time: 5}
    litellm_settings: {num_retries: 2, request_timeout: 600, fallbacks: [...], drop_params: true,
                       default_fallbacks: [slow], cache: true}
    general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}
    virtual_keys:                   # scillm's addition: static keys (litellm keeps them in a DB)
      - {key: os.environ/TEAM_A_KEY, key_alias: team-a, models: [fast], rpm_limit: 60,
         tpm_limit: 100000, max_budget_tokens: 5000000}   # or max_budget: 20.0 (dollars)

Every problem is a :class:`ConfigError` naming its place in the YAML
(``model_list[1].litellm_params.model``); a setting scillm does not apply is a warning naming
it, never a silent ignore.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scillm._request import OPENAI_PARAMS

__all__ = ["ConfigError", "Price", "ProxyConfig", "VirtualKey", "load_config", "parse_config"]

ENV_PREFIX = "os.environ/"
STRATEGIES = {
    "simple-shuffle": "simple-shuffle",
    "shuffle": "simple-shuffle",
    "least-busy": "least-busy",
    "latency-based-routing": "latency",
    "latency": "latency",
}
ROUTER_PARAMS = frozenset(
    {"model", "api_base", "base_url", "api_key", "custom_llm_provider", "timeout", "rpm", "tpm"}
)
"""``litellm_params`` keys the Router takes as transport or pacing; OpenAI body parameters are
defaults of every call."""
PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")
TOP_KEYS = frozenset(
    {"model_list", "router_settings", "litellm_settings", "general_settings", "virtual_keys"}
)
NOTES = {
    "database_url": "keys are the static virtual_keys of this file",
    "cache_params": "litellm_settings.cache: true caches in scillm's SQLite file",
    "context_window_fallbacks": "use fallbacks",
}
"""Why a litellm setting is not applied, where there is more to say than 'ignored'."""
KEY_FIELDS = frozenset(
    {"key", "key_alias", "models", "rpm_limit", "tpm_limit", "max_budget", "max_budget_tokens"}
)


class ConfigError(ValueError):
    """A config that cannot be served; the message starts with the YAML path of the problem."""


@dataclass(frozen=True)
class Price:
    """Dollars per prompt and per completion token of one deployment."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input + completion_tokens * self.output


@dataclass(frozen=True)
class VirtualKey:
    """A client key: what it may call and how much. ``models`` empty means every group."""

    key: str
    alias: str
    models: frozenset[str] = frozenset()
    rpm: int | None = None
    tpm: int | None = None
    max_budget_usd: float | None = None
    max_budget_tokens: int | None = None


@dataclass
class ProxyConfig:
    """What the gateway runs: the Router's arguments, the keys, the per-deployment prices."""

    model_list: list[dict[str, Any]]
    router: dict[str, Any] = field(default_factory=dict)
    master_key: str | None = None
    keys: list[VirtualKey] = field(default_factory=list)
    prices: dict[str, Price] = field(default_factory=dict)
    """Deployment id → price, for the deployments whose price the config gives."""
    drop_params: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        """The model groups, in config order."""
        return list(dict.fromkeys(e["model_name"] for e in self.model_list))


def load_config(path: str | Path) -> ProxyConfig:
    """Read and check the YAML file at ``path`` (:class:`ConfigError` naming the problem)."""
    yaml = importlib.import_module("yaml")  # PyYAML ships no type stubs

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"cannot read the proxy config {path}: {reason}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the proxy config {path} is not valid YAML: {exc}") from None
    return parse_config(raw)


def parse_config(raw: Any, environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """Check an already loaded config (``os.environ/NAME`` read from ``environ``)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"(top level): the config must be a mapping with model_list, got {_kind(raw)}"
        )
    raw = _resolve_env(raw, "", os.environ if environ is None else environ)
    warnings: list[str] = []
    _unknown(raw, TOP_KEYS, "", warnings)
    router = _section(raw, "router_settings")
    settings = _section(raw, "litellm_settings")
    general = _section(raw, "general_settings")
    model_list, prices = _model_list(raw.get("model_list"), warnings)
    config = ProxyConfig(model_list=model_list, prices=prices, warnings=warnings)
    groups = set(config.groups)
    config.router = _router_kwargs(router, settings, groups, warnings)
    config.drop_params = _flag(settings, "drop_params", "litellm_settings", default=False)
    _unknown(general, frozenset({"master_key"}), "general_settings", warnings)
    master = general.get("master_key")
    if master is not None and (not isinstance(master, str) or not master):
        raise ConfigError("general_settings.master_key: must be a non-empty string")
    config.master_key = master
    config.keys = _virtual_keys(raw.get("virtual_keys"), config, warnings)
    return config


# -- sections ---------------------------------------------------------------------------------


def _model_list(value: Any, warnings: list[str]) -> tuple[list[dict[str, Any]], dict[str, Price]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(
            "model_list: must be a non-empty list of {model_name, litellm_params} entries"
        )
    from scillm.router.deployments import build_groups

    entries: list[dict[str, Any]] = []
    prices: dict[str, Price] = {}
    for i, entry in enumerate(value):
        where = f"model_list[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping, got {_kind(entry)}")
        _unknown(entry, frozenset({"model_name", "litellm_params", "model_info"}), where, warnings)
        name = entry.get("model_name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.model_name: must be a non-empty string")
        params = entry.get("litellm_params")
        if not isinstance(params, dict) or not isinstance(params.get("model"), str):
            raise ConfigError(
                f"{where}.litellm_params: needs a 'model' string, e.g. "
                "{model: openai/gpt-4o-mini, api_base: ..., api_key: os.environ/OPENAI_API_KEY}"
            )
        info = entry.get("model_info") or {}
        if not isinstance(info, dict):
            raise ConfigError(f"{where}.model_info: must be a mapping, got {_kind(info)}")
        ident = str(info["id"]) if "id" in info else f"{name}#{i}"
        price = _price(params, info, where)
        if price is not None:
            prices[ident] = price
        kept = {}
        for key, item in params.items():
            if key in ROUTER_PARAMS or key in OPENAI_PARAMS:
                kept[key] = item
            elif key not in PRICE_KEYS:
                warnings.append(
                    f"{where}.litellm_params.{key}: not supported by scillm's proxy; ignored"
                )
        _unknown(info, frozenset({"id", *PRICE_KEYS}), f"{where}.model_info", warnings)
        entries.append({"model_name": name, "litellm_params": kept, "model_info": {"id": ident}})
    ids = [e["model_info"]["id"] for e in entries]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"model_list: model_info.id {dup!r} is used twice; ids must be unique")
    try:
        build_groups(entries)  # every model string resolves to a provider
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return entries, prices


def _price(params: dict[str, Any], info: dict[str, Any], where: str) -> Price | None:
    found: dict[str, float] = {}
    for key in PRICE_KEYS:
        for section, name in ((info, "model_info"), (params, "litellm_params")):
            if key in section:
                value = section[key]
                if not _is_number(value) or value < 0:
                    raise ConfigError(f"{where}.{name}.{key}: must be a number >= 0 (dollars)")
                found.setdefault(key, float(value))
    if not found:
        return None
    if len(found) == 1:
        missing = next(k for k in PRICE_KEYS if k not in found)
        raise ConfigError(f"{where}.model_info.{missing}: give both prices or neither")
    return Price(found["input_cost_per_token"], found["output_cost_per_token"])


def _router_kwargs(
    router: dict[str, Any], settings: dict[str, Any], groups: set[str], warnings: list[str]
) -> dict[str, Any]:
    """The Router's arguments: ``router_settings`` first, then ``litellm_settings``."""
    out: dict[str, Any] = {}
    known_router = {
        "routing_strategy", "num_retries", "timeout", "fallbacks", "cooldown_time", "allowed_fails"
    }  # fmt: skip
    known_settings = {
        "num_retries", "request_timeout", "fallbacks", "default_fallbacks", "drop_params", "cache"
    }  # fmt: skip
    _unknown(router, frozenset(known_router), "router_settings", warnings)
    _unknown(settings, frozenset(known_settings), "litellm_settings", warnings)
    strategy = router.get("routing_strategy")
    if strategy is not None:
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"router_settings.routing_strategy: {strategy!r} is not supported; use one of "
                f"{', '.join(sorted(STRATEGIES))}"
            )
        out["routing_strategy"] = STRATEGIES[strategy]
    retries = _pick(router, settings, "num_retries", "num_retries", warnings)
    if retries is not None:
        path, value = retries
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: must be an integer >= 0")
        out["num_retries"] = value
    timeout = _pick(router, settings, "timeout", "request_timeout", warnings)
    if timeout is not None:
        path, value = timeout
        if not _is_number(value) or value <= 0:
            raise ConfigError(f"{path}: must be a number of seconds > 0")
        out["timeout"] = float(value)
    if "cooldown_time" in router:
        value = router["cooldown_time"]
        if not _is_number(value) or value < 0:
            raise ConfigError("router_settings.cooldown_time: must be a number of seconds >= 0")
        out["cooldown_s"] = float(value)
    if "allowed_fails" in router:
        value = router["allowed_fails"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError("router_settings.allowed_fails: must be an integer >= 0")
        out["allowed_fails"] = value
    fallbacks = _pick(router, settings, "fallbacks", "fallbacks", warnings)
    merged = _fallbacks(*fallbacks, groups) if fallbacks is not None else {}
    default = settings.get("default_fallbacks")
    if default is not None:
        targets = _group_list(default, "litellm_settings.default_fallbacks", groups)
        for group in sorted(groups):
            if group not in merged:
                rest = [t for t in targets if t != group]
                if rest:
                    merged[group] = rest
    if merged:
        out["fallbacks"] = [{k: v} for k, v in merged.items()]
    cache = settings.get("cache")
    if cache is not None:
        if not isinstance(cache, bool):
            raise ConfigError("litellm_settings.cache: must be true or false")
        if cache:
            out["cache"] = True
    return out


def _pick(
    router: dict[str, Any],
    settings: dict[str, Any],
    router_key: str,
    settings_key: str,
    warnings: list[str],
) -> tuple[str, Any] | None:
    """``router_settings.X`` over ``litellm_settings.Y`` (warned when both differ)."""
    a, b = router.get(router_key), settings.get(settings_key)
    if a is not None and b is not None and a != b:
        warnings.append(
            f"router_settings.{router_key} and litellm_settings.{settings_key} differ; "
            f"router_settings.{router_key} is used"
        )
    if a is not None:
        return f"router_settings.{router_key}", a
    if b is not None:
        return f"litellm_settings.{settings_key}", b
    return None


def _fallbacks(path: str, value: Any, groups: set[str]) -> dict[str, list[str]]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: must be a list like [{{group: [other, ...]}}]")
    out: dict[str, list[str]] = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}[{i}]: must be a mapping {{group: [other, ...]}}")
        for source, targets in entry.items():
            where = f"{path}[{i}].{source}"
            if source not in groups:
                raise ConfigError(f"{where}: {source!r} is not a model_name of model_list")
            out.setdefault(source, []).extend(_group_list(targets, where, groups))
    return out


def _group_list(value: Any, path: str, groups: set[str]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(g, str) for g in items):
        raise ConfigError(f"{path}: must be a list of model_name strings")
    for j, group in enumerate(items):
        if group not in groups:
            raise ConfigError(f"{path}[{j}]: {group!r} is not a model_name of model_list")
    return list(items)


def _virtual_keys(value: Any, config: ProxyConfig, warnings: list[str]) -> list[VirtualKey]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError("virtual_keys: must be a list of {key, key_alias, models, ...}")
    groups = set(config.groups)
    keys: list[VirtualKey] = []
    seen_keys: set[str] = {config.master_key} if config.master_key else set()
    seen_aliases: set[str] = {"master"}
    for i, entry in enumerate(value):
        where = f"virtual_keys[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping with at least 'key'")
        _unknown(entry, KEY_FIELDS, where, warnings)
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}.key: must be a non-empty string")
        if key in seen_keys:
            raise ConfigError(f"{where}.key: the same key is declared twice (or is the master key)")
        seen_keys.add(key)
        alias = entry.get("key_alias", f"key-{i}")
        if not isinstance(alias, str) or not alias or alias in seen_aliases:
            raise ConfigError(f"{where}.key_alias: must be a unique non-empty string, not 'master'")
        seen_aliases.add(alias)
        models = entry.get("models") or []
        allowed = frozenset(_group_list(models, f"{where}.models", groups))
        vkey = VirtualKey(
            key=key,
            alias=alias,
            models=allowed,
            rpm=_limit(entry, "rpm_limit", where),
            tpm=_limit(entry, "tpm_limit", where),
            max_budget_tokens=_limit(entry, "max_budget_tokens", where),
        )
        if "max_budget" in entry:
            budget = entry["max_budget"]
            if not _is_number(budget) or budget <= 0:
                raise ConfigError(f"{where}.max_budget: must be a number of dollars > 0")
            _check_priced(config, allowed or groups, f"{where}.max_budget")
            vkey = VirtualKey(**{**vkey.__dict__, "max_budget_usd": float(budget)})
        keys.append(vkey)
    return keys


def _check_priced(config: ProxyConfig, allowed: frozenset[str] | set[str], path: str) -> None:
    """A dollar budget needs a price on every deployment the key's calls may reach."""
    fallbacks: dict[str, list[str]] = {}
    for entry in config.router.get("fallbacks", []):
        for source, targets in entry.items():
            fallbacks.setdefault(source, []).extend(targets)
    reach = set(allowed) | {t for g in allowed for t in fallbacks.get(g, [])}
    for entry in config.model_list:
        ident = entry["model_info"]["id"]
        if entry["model_name"] in reach and ident not in config.prices:
            raise ConfigError(
                f"{path}: a budget in dollars needs prices, and deployment {ident!r} has none: "
                "set model_info.input_cost_per_token and output_cost_per_token, or give "
                "the budget in tokens with max_budget_tokens"
            )


# -- helpers ----------------------------------------------------------------------------------


def _resolve_env(value: Any, path: str, environ: Mapping[str, str]) -> Any:
    """Every ``os.environ/NAME`` string replaced by the variable (missing: ConfigError)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in environ:
            raise ConfigError(f"{path or '(top level)'}: environment variable {name} is not set")
        return environ[name]
    if isinstance(value, dict):
        return {k: _resolve_env(v, _join(path, str(k)), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be a mapping, got {_kind(value)}")
    return value


def _unknown(
    section: Mapping[str, Any], known: frozenset[str], path: str, warnings: list[str]
) -> None:
    for key in section:
        if key not in known:
            where = _join(path, str(key))
            note = NOTES.get(str(key))
            why = f" ({note})" if note else ""
            warnings.append(f"{where}: not supported by scillm's proxy; ignored{why}")


def _flag(section: dict[str, Any], key: str, path: str, *, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}: must be true or false")
    return value


def _limit(entry: dict[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}.{key}: must be an integer >= 1")
    return value


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
