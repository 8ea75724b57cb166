"""The public surface of scillm.certainly: arguments, bad items, twins, backends, verdict shape."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest

import scillm.certainly as certainly
from scillm.certainly import Verdict, aavailable_backends, acheck, available_backends, check
from scillm.certainly.known_bugs import bugs_for

pytestmark = pytest.mark.requires("coqc", apt="coq")

TRUE = "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."
VERDICT_KEYS = {
    "id",
    "backend",
    "status",
    "messages",
    "uses_sorry",
    "axioms",
    "statement_matches",
    "time_ms",
    "backend_version",
    "prover",
    "version",
    "known_bugs",
}


def test_the_public_surface_is_pinned() -> None:
    assert certainly.__all__ == [
        "BACKENDS",
        "DEFAULT_TIMEOUT_S",
        "LEAN_STANDARD_AXIOMS",
        "STATUSES",
        "Attempt",
        "BridgeSettings",
        "Message",
        "ProofResult",
        "Severity",
        "Status",
        "Verdict",
        "aavailable_backends",
        "acheck",
        "aprove",
        "available_backends",
        "check",
        "prove",
    ]


def test_importing_certainly_does_not_import_fastapi() -> None:
    code = (
        "import sys, scillm.certainly, scillm.certainly.provider; print('fastapi' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("sync", "async_"), [(check, acheck), (available_backends, aavailable_backends)]
)
def test_sync_and_async_twins_share_a_signature(sync: Any, async_: Any) -> None:
    assert inspect.signature(sync) == inspect.signature(async_)
    assert inspect.iscoroutinefunction(async_)


BAD_ITEMS: list[tuple[Any, str]] = [
    ("just a string", "not an object"),
    ({"backend": "coq", "code": TRUE}, "has no 'id'"),
    ({"id": True, "backend": "coq", "code": TRUE}, "has no 'id'"),
    ({"id": "b", "code": TRUE}, "has no 'backend'"),
    ({"id": "b", "backend": "isabelle", "code": TRUE}, "unknown backend 'isabelle'"),
    ({"id": "b", "backend": "coq"}, "no 'code'"),
    ({"id": "b", "backend": "coq", "requirement_text": "1 = 1"}, "prove pipeline"),
    ({"id": "b", "backend": "coq", "code": "   "}, "'code' must be a non-empty string"),
    ({"id": "b", "backend": "coq", "code": 42}, "'code' must be a non-empty string"),
    ({"id": "b", "backend": "coq", "code": TRUE, "statement": "1 = 1"}, "not both"),
    ({"id": "b", "backend": "coq", "code": TRUE, "imports": ["Arith"]}, "top of 'code'"),
    ({"id": "b", "backend": "coq", "statement": "1 = 1"}, "'proof' must be"),
    ({"id": "b", "backend": "coq", "proof": "auto."}, "'statement' must be"),
    (
        {"id": "b", "backend": "coq", "statement": "1 = 1", "proof": "auto.", "imports": [1]},
        "'imports' must be",
    ),
]


def test_bad_items_get_error_verdicts_and_the_batch_goes_on() -> None:
    items = [{"id": "first", "backend": "coq", "code": TRUE}]
    items += [item for item, _ in BAD_ITEMS]
    items += [{"id": 7, "backend": "coq", "code": TRUE}]
    verdicts = check(items)
    assert len(verdicts) == len(items)
    assert (verdicts[0].id, verdicts[0].status) == ("first", "proved")
    assert (verdicts[-1].id, verdicts[-1].status) == (7, "proved")
    for verdict, (_, expected) in zip(verdicts[1:-1], BAD_ITEMS, strict=True):
        assert verdict.status == "error"
        assert expected in verdict.messages[0].text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"items": "Theorem t."}, "items must be a list"),
        ({"items": {"id": "t"}}, "items must be a list"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": "5"}, "timeout_s"),
        ({"max_workers": 0}, "max_workers"),
        ({"max_workers": 1.5}, "max_workers"),
        ({"axiom_allowlist": "classic"}, "axiom_allowlist"),
        ({"axiom_allowlist": [1]}, "axiom_allowlist"),
    ],
)
def test_programming_errors_raise_value_error(kwargs: dict[str, Any], match: str) -> None:
    call = {"items": [], **kwargs}
    with pytest.raises(ValueError, match=match):
        check(call.pop("items"), **call)


def test_an_empty_batch_is_empty() -> None:
    assert check([]) == []


async def test_acheck_checks_in_the_running_loop() -> None:
    items = [
        {"id": "a", "backend": "coq", "code": TRUE},
        {"id": "b", "backend": "coq", "code": "Theorem t : 1 = 2. Proof. Admitted."},
    ]
    a, b = await acheck(items, max_workers=1)
    assert (a.status, b.status) == ("proved", "failed")


def test_a_verdict_is_json_ready() -> None:
    [verdict] = check([{"id": "t", "backend": "coq", "code": TRUE}])
    data = verdict.to_dict()
    assert set(data) == VERDICT_KEYS
    assert data["status"] == "proved" and data["axioms"] == [] and data["uses_sorry"] is False
    assert data["messages"] == [{"severity": "info", "line": 1, "text": "checked t : 1 + 1 = 2"}]
    assert data["prover"] == "Coq" and data["version"] == data["backend_version"]
    assert all(set(bug) >= {"id", "fixed_in", "source"} for bug in data["known_bugs"])
    assert Verdict(id="x", backend=None, status="error").to_dict()["messages"] == []


def test_available_backends_reports_coq_and_a_missing_lean() -> None:
    found = available_backends(lean_path="/nonexistent/lean")
    assert set(found) == {"coq", "lean4"}
    coq, lean = found["coq"], found["lean4"]
    assert coq["available"] is True and coq["version"] and coq["detail"] is None
    assert coq["isolation"] in ("bwrap+rlimits", "rlimits-only")
    assert coq["known_bugs"] == [bug.id for bug in bugs_for("coq", str(coq["version"]))]
    assert lean == {
        "available": False,
        "version": None,
        "path": None,
        "detail": lean["detail"],
        "isolation": None,
        "known_bugs": [],
    }
    assert "elan" in str(lean["detail"]) and "SCILLM_LEAN" in str(lean["detail"])


def test_a_missing_coqc_is_reported_unavailable() -> None:
    coq = available_backends(coqc_path="/nonexistent/coqc")["coq"]
    assert coq["available"] is False and "apt-get install coq" in str(coq["detail"])


def test_a_program_that_is_not_a_prover_is_unavailable() -> None:
    [verdict] = check([{"id": "t", "backend": "coq", "code": TRUE}], coqc_path="/bin/false")
    assert (
        verdict.status == "unavailable" and "did not report a version" in verdict.messages[0].text
    )
