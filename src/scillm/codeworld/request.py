"""A CodeWorld request, checked whole: the bridge envelope and the provider's arguments.

    {"messages": [...], "items": [...],
     "provider": {"name": "codeworld", "args": {"strategy": "mcts", "strategy_config": {...},
                  "scoring": {...}, "judge": {...}, "judge_mode": "lex", "weights": {...}}},
     "options": {"max_seconds": 300, "session_id": "s1", "track_id": "t1"}}

From Python (:func:`scillm.codeworld.aevaluate`), ``generator_model`` and ``judge.model`` may
also be a :class:`~scillm.Router` or ``(router, group)`` (see :mod:`scillm.router.seam`); JSON
can only carry model strings, so the bridge takes strings.

The original's top-level ``codeworld_metrics`` (weights), ``codeworld_iterations`` (rollouts),
``codeworld_allowed_languages`` and ``request_timeout`` (caps ``max_seconds``) are read too.
Unknown fields are refused: a typo must not silently change what runs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from scillm._config import env_flag, env_int
from scillm.codeworld.items import Item, parse_items
from scillm.codeworld.metrics import BUILTIN_METRICS, DEFAULT_WEIGHTS
from scillm.codeworld.settings import LLMSpec, env_names, generator_defaults
from scillm.codeworld.validation import Checker, Loc
from scillm.router.router import Router
from scillm.router.seam import EngineModel, engine_model

__all__ = [
    "ARG_KEYS",
    "STRATEGIES",
    "JudgeSpec",
    "Request",
    "RunConfig",
    "ScoringSpec",
    "SearchSpec",
    "derive_seed",
    "parse_request",
]

T = TypeVar("T")

STRATEGIES = ("baseline", "mcts")
SEED_ENV = "SCILLM_DETERMINISTIC_SEED"
CI_ENV = ("SCILLM_CI", "GITHUB_ACTIONS")  # a flag: smaller default searches in CI
JUDGE_MODES = ("lex", "weighted")
DEFAULT_MAX_SECONDS = 300.0
DEFAULT_RUBRIC = "Prefer correct, clear, idiomatic and efficient programs."
SEARCH_KEYS = (
    "rollouts",
    "depth",
    "uct_c",
    "exploration_constant",
    "max_seconds",
    "n_variants",
    "autogenerate",
    "generator_model",
    "generator_api_base",
    "generator_api_key",
    "temperature",
)
ARG_KEYS = (
    *SEARCH_KEYS,
    "strategy",
    "strategy_config",
    "seed",
    "scoring",
    "judge",
    "judge_mode",
    "weights",
)
ENVELOPE_KEYS = (
    "messages",
    "items",
    "provider",
    "options",
    "codeworld_metrics",
    "codeworld_iterations",
    "codeworld_allowed_languages",
    "request_timeout",
)


@dataclass(frozen=True)
class SearchSpec:
    """MCTS budgets: ``rollouts`` expansions, refinement ``depth``, UCT's ``uct_c``."""

    rollouts: int
    depth: int
    uct_c: float
    max_seconds: float | None
    autogenerate: bool
    n_variants: int


@dataclass(frozen=True)
class ScoringSpec:
    """A user scoring function ``entry(task, context, outputs, timings)`` (Python)."""

    code: str
    entry: str = "score"
    timeout_s: float = 10.0


@dataclass(frozen=True)
class JudgeSpec:
    llm: LLMSpec
    rubric: str


@dataclass(frozen=True)
class RunConfig:
    strategy: str
    search: SearchSpec
    generator: LLMSpec
    scoring: ScoringSpec | None
    judge: JudgeSpec | None
    judge_mode: str
    weights: dict[str, float]
    seed: int
    max_seconds: float
    session_id: str | None = None
    track_id: str | None = None


@dataclass(frozen=True)
class Request:
    items: list[Item]
    config: RunConfig


def parse_request(body: Any) -> Request:
    """Check a bridge envelope; raises :class:`InvalidRequest` listing every problem."""
    check = Checker()
    obj = check.mapping(body, (), required=True) or {}
    check.known_keys(obj, ENVELOPE_KEYS, ())
    messages = check.sequence(obj.get("messages"), ("messages",), required=True)
    provider = check.mapping(obj.get("provider"), ("provider",)) or {}
    check.known_keys(provider, ("name", "args"), ("provider",))
    if provider.get("name", "codeworld") != "codeworld":
        check.add(("provider", "name"), f"must be 'codeworld', not {provider.get('name')!r}")
    args = dict(check.mapping(provider.get("args"), ("provider", "args")) or {})
    _legacy(obj, args, check)
    items = _with_default_tasks(parse_items(obj.get("items"), check), messages or [])
    cap = check.number(obj.get("request_timeout"), ("request_timeout",), positive=True)
    config = _config(args, check.mapping(obj.get("options"), ("options",)) or {}, cap, check)
    _cross_check(obj, items, config, check)
    check.raise_if_any()
    return Request(items, config)


def _legacy(obj: Mapping[str, Any], args: dict[str, Any], check: Checker) -> None:
    for old, new in (("codeworld_metrics", "weights"), ("codeworld_iterations", "rollouts")):
        if old in obj:
            if new in args:
                check.add((old,), f"give provider.args.{new} or {old}, not both")
            args[new] = obj[old]


def _config(
    args: Mapping[str, Any], options: Mapping[str, Any], cap: float | None, check: Checker
) -> RunConfig:
    loc: Loc = ("provider", "args")
    check.known_keys(args, ARG_KEYS, loc)
    check.known_keys(options, ("max_seconds", "session_id", "track_id"), ("options",))
    strategy, search_args = _strategy(args, check, loc)
    max_seconds = check.number(
        options.get("max_seconds"), ("options", "max_seconds"), positive=True
    )
    session_id = check.string(options.get("session_id"), ("options", "session_id"))
    seed = check.integer(args.get("seed", search_args.get("seed")), (*loc, "seed"))
    search = _search(search_args, strategy, check, loc)
    generator = _generator(search_args, check, loc)
    return RunConfig(
        strategy=strategy or "baseline",
        search=search,
        generator=generator,
        scoring=_scoring(args.get("scoring"), check, (*loc, "scoring")),
        judge=_judge(args.get("judge"), check, (*loc, "judge")),
        judge_mode=_choice(args.get("judge_mode", "lex"), JUDGE_MODES, check, (*loc, "judge_mode")),
        weights=_weights(args, check, loc),
        seed=_seed(seed, check),
        max_seconds=min(max_seconds or DEFAULT_MAX_SECONDS, cap or float("inf")),
        session_id=session_id,
        track_id=check.string(options.get("track_id"), ("options", "track_id")),
    )


def _strategy(
    args: Mapping[str, Any], check: Checker, loc: Loc
) -> tuple[str | None, dict[str, Any]]:
    """The strategy name and its settings: ``strategy_config`` merged with flat arguments."""
    cloc = (*loc, "strategy_config")
    config = dict(check.mapping(args.get("strategy_config"), cloc) or {})
    check.known_keys(config, ("name", "seed", *SEARCH_KEYS), cloc)
    name = args.get("strategy", config.get("name", "baseline"))
    if "strategy" in args and "name" in config and config["name"] != args["strategy"]:
        check.add((*cloc, "name"), f"says {config['name']!r} but strategy is {args['strategy']!r}")
    for key in ("seed", *SEARCH_KEYS):
        if key in args and key in config and args[key] != config[key]:
            check.add((*loc, key), f"differs from strategy_config.{key}: give it once")
        if key in args:
            config[key] = args[key]
    return _choice(name, STRATEGIES, check, (*loc, "strategy")), config


def _search(
    config: Mapping[str, Any], strategy: str | None, check: Checker, loc: Loc
) -> SearchSpec:
    if strategy == "baseline":
        for key in SEARCH_KEYS:
            if key in config and key != "temperature":  # a deterministic Router sends it
                check.add((*loc, key), "applies to strategy 'mcts' only; drop it or use mcts")
    uct = config.get("uct_c")
    if "exploration_constant" in config:
        if uct is not None and uct != config["exploration_constant"]:
            check.add((*loc, "exploration_constant"), "is an alias of uct_c: give one of them")
        uct = config["exploration_constant"]
    in_ci = _from_env(lambda: env_flag(False, *CI_ENV), False, check, loc)
    default_rollouts, default_depth = (24, 5) if in_ci else (64, 8)
    n_variants = config.get("n_variants")
    if n_variants is None:
        auto_n = env_names("MCTS_AUTO_N")
        n_variants = _from_env(lambda: env_int(6, *auto_n), 6, check, (*loc, "n_variants"))
    return SearchSpec(
        rollouts=_int(config.get("rollouts"), default_rollouts, check, (*loc, "rollouts")),
        depth=_int(config.get("depth"), default_depth, check, (*loc, "depth"), minimum=1),
        uct_c=1.4 if uct is None else (check.number(uct, (*loc, "uct_c")) or 0.0),
        max_seconds=check.number(config.get("max_seconds"), (*loc, "max_seconds"), positive=True),
        autogenerate=bool(check.boolean(config.get("autogenerate"), (*loc, "autogenerate"))),
        n_variants=_int(n_variants, 6, check, (*loc, "n_variants"), minimum=1),
    )


def _generator(config: Mapping[str, Any], check: Checker, loc: Loc) -> LLMSpec:
    default = generator_defaults()
    temperature = check.number(config.get("temperature"), (*loc, "temperature"))
    spec = _llm(
        config.get("generator_model"),
        config.get("generator_api_base"),
        config.get("generator_api_key"),
        check,
        (*loc, "generator_model"),
        (*loc, "generator_api_base"),
        (*loc, "generator_api_key"),
    )
    return replace(
        spec,
        model=spec.model or default.model,
        temperature=default.temperature if temperature is None else temperature,
    )


def _llm(
    model: Any, api_base: Any, api_key: Any, check: Checker, mloc: Loc, bloc: Loc, kloc: Loc
) -> LLMSpec:
    """A model string with its endpoint, or the Router model a Python caller gave
    (``model`` is "" when none was given)."""
    base, key = check.string(api_base, bloc), check.string(api_key, kloc)
    if model is None or isinstance(model, str):
        if model is not None and not model.strip():
            check.add(mloc, "is empty; name a model, e.g. 'openai/gpt-4o-mini'")
        return LLMSpec(model=model or "", api_base=base, api_key=key)
    if not isinstance(model, EngineModel | Router | tuple):
        check.add(
            mloc,
            f"must be a model string, not {type(model).__name__} (from Python: also a "
            "scillm Router or (router, 'group'))",
        )
        return LLMSpec(model="")
    try:
        engine = engine_model(model, api_base=base, api_key=key)
    except (TypeError, ValueError) as exc:
        check.add(mloc, str(exc))
        return LLMSpec(model="")
    return LLMSpec(model=engine.name, engine=engine)


def _scoring(raw: Any, check: Checker, loc: Loc) -> ScoringSpec | None:
    obj = check.mapping(raw, loc)
    if obj is None:
        return None
    check.known_keys(obj, ("lang", "code", "entry", "timeout_s"), loc)
    if obj.get("lang", "py") not in ("py", "python"):
        check.add((*loc, "lang"), "scoring functions are Python: use 'py'")
    code = check.string(obj.get("code"), (*loc, "code"), required=True)
    if code is not None and not code.strip():
        check.add((*loc, "code"), "must define the scoring function")
    entry = check.string(obj.get("entry", "score"), (*loc, "entry")) or "score"
    timeout = check.number(obj.get("timeout_s"), (*loc, "timeout_s"), positive=True)
    return ScoringSpec(code or "", entry, timeout or 10.0)


def _judge(raw: Any, check: Checker, loc: Loc) -> JudgeSpec | None:
    obj = check.mapping(raw, loc)
    if obj is None:
        return None
    check.known_keys(obj, ("model", "rubric", "api_base", "api_key"), loc)
    if obj.get("model") is None:
        check.add((*loc, "model"), "is required (a model string)")
    llm = _llm(
        obj.get("model"),
        obj.get("api_base"),
        obj.get("api_key"),
        check,
        (*loc, "model"),
        (*loc, "api_base"),
        (*loc, "api_key"),
    )
    rubric = check.string(obj.get("rubric"), (*loc, "rubric")) or DEFAULT_RUBRIC
    return JudgeSpec(replace(llm, temperature=0.0), rubric)


def _weights(args: Mapping[str, Any], check: Checker, loc: Loc) -> dict[str, float]:
    raw = args.get("weights")
    if raw is None:
        return dict(DEFAULT_WEIGHTS)
    obj = check.mapping(raw, (*loc, "weights")) or {}
    weights: dict[str, float] = {}
    for name, value in obj.items():
        wloc = (*loc, "weights", str(name))
        if name not in BUILTIN_METRICS and args.get("scoring") is None:
            known = ", ".join(BUILTIN_METRICS)
            check.add(wloc, f"unknown metric; built-in: {known} (others come from scoring)")
        elif name == "aggregate":
            check.add(wloc, "aggregate is computed from the weights; it cannot have one")
        weight = check.number(value, wloc)
        if weight is not None:
            weights[str(name)] = weight
    if obj and not sum(weights.values()):
        check.add((*loc, "weights"), "at least one weight must be > 0")
    return weights


def _cross_check(
    obj: Mapping[str, Any], items: list[Item], config: RunConfig, check: Checker
) -> None:
    allowed = obj.get("codeworld_allowed_languages")
    if allowed is not None:
        allowed = check.sequence(allowed, ("codeworld_allowed_languages",)) or []
    for item in items:
        if allowed is not None and item.language not in allowed:
            check.add(("items", item.index, "language"), f"{item.language!r} is not in {allowed}")
        if not item.variants and config.strategy != "mcts":
            check.add(("items", item.index, "variants"), "strategy 'baseline' needs variants")


def _with_default_tasks(items: list[Item], messages: list[Any]) -> list[Item]:
    """An item without ``task`` takes the request's last user message as its task."""
    users = [
        m.get("content") for m in messages if isinstance(m, Mapping) and m.get("role") == "user"
    ]
    text = next((c for c in reversed(users) if isinstance(c, str) and c.strip()), "")
    return [replace(item, task=text) if not item.task and text else item for item in items]


def _choice(value: Any, allowed: tuple[str, ...], check: Checker, loc: Loc) -> str:
    if value in allowed:
        return str(value)
    check.add(loc, f"must be one of {', '.join(allowed)}, not {value!r}")
    return allowed[0]


def _int(value: Any, default: int, check: Checker, loc: Loc, minimum: int = 0) -> int:
    found = check.integer(value, loc, minimum=minimum)
    return default if found is None else found


def _seed(seed: int | None, check: Checker) -> int:
    """The run's seed: the argument, else ``SCILLM_DETERMINISTIC_SEED``, else a fresh one
    (reported in the manifest, so any run can be repeated)."""
    if seed is not None:
        return seed
    found = _from_env(lambda: env_int(secrets.randbelow(2**31), SEED_ENV), 0, check, ("seed",))
    if found < 0:
        check.add(("seed",), f"{SEED_ENV}={found} is negative; set it to an integer >= 0")
    return found


def _from_env(read: Callable[[], T], fallback: T, check: Checker, loc: Loc) -> T:
    """A setting read from the environment; a malformed one is a problem at ``loc`` (its
    message names the variable) and ``fallback`` stands in for it."""
    try:
        return read()
    except ValueError as exc:
        check.add(loc, str(exc))
        return fallback


def derive_seed(seed: int, item: Item, purpose: str) -> int:
    """A stable 31-bit seed per (run seed, item, purpose): LLM calls, tree ties, judge order."""
    digest = hashlib.sha256(f"{seed}:{item.index}:{item.id}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
