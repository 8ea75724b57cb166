"""The HTTP bridge in-process (FastAPI TestClient): envelope, verdicts, health, refusals, and
every error in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from coq_exploits import EXPLOITS
from fastapi.testclient import TestClient

from scillm.certainly import available_backends
from scillm.certainly.bridge import Bridge
from scillm.certainly.server import create_app
from scillm.certainly.settings import SERVICE_LEGACY, BridgeSettings
from scillm.router import Router
from scillm.service import ServiceConfig
from scillm.testing import Fault, MockLLMServer, ScriptedModel

pytestmark = pytest.mark.requires("coqc", apt="coq")

TRUE = "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."
PROOF = (
    "```coq\nTheorem add_0 : forall n : nat, n + 0 = n.\n```\n"
    "```coq\nProof. induction n; auto. Qed.\n```"
)
SPIN = """Fixpoint spin (n : nat) (b : bool) : bool :=
  match n with 0 => b | S k => spin k (spin k (negb b)) end.
Eval vm_compute in spin 200 true.
Theorem t : True. Proof. exact I. Qed.
"""
NO_PROVER = {"coqc_path": "/nonexistent/coqc", "lean_path": "/nonexistent/lean"}


@pytest.fixture(scope="module")
def model() -> Iterator[MockLLMServer]:
    with MockLLMServer(reply=PROOF) as server:
        yield server


def client(
    model: MockLLMServer, config: ServiceConfig | None = None, **settings: Any
) -> TestClient:
    fields = {"model": "openai/mock", "llm_api_base": model.base_url, "llm_api_key": "k"}
    app = create_app(BridgeSettings(max_workers=2, **{**fields, **settings}), config)
    return TestClient(app, base_url="http://127.0.0.1")


def error_of(resp: Any, status: int) -> dict[str, Any]:
    """The reply's ``error``, checked to have OpenAI's shape (and no more) and ``status``."""
    assert resp.status_code == status, resp.text
    assert set(resp.json()) == {"error"}
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bridge(model: MockLLMServer) -> Iterator[TestClient]:
    with client(model) as test_client:
        yield test_client


def test_healthz_checks_a_real_proof_and_reports_versions(bridge: TestClient) -> None:
    resp = bridge.get("/healthz")
    assert resp.status_code == 200
    report = resp.json()
    coq, lean = report["backends"]["coq"], report["backends"]["lean4"]
    assert report["ok"] is True and coq["available"] and coq["version"]
    assert coq["proof_check"]["ok"] is True
    assert coq["proof_check"]["true_statement"] == "proved"
    assert coq["proof_check"]["false_statement"] == "failed"
    assert coq["isolation"] in ("bwrap+rlimits", "rlimits-only")
    assert lean["available"] is False or lean["proof_check"]["ok"] is True
    assert (
        report["details"]["default_timeout"] == 60 and report["details"]["model"] == "openai/mock"
    )


def test_a_batch_keeps_ids_order_and_metadata(bridge: TestClient, model: MockLLMServer) -> None:
    body = {
        "messages": [{"role": "user", "content": "check these"}],
        "items": [
            {"id": "true", "code": TRUE, "metadata": {"source": "unit"}},
            {"id": "false", "statement": "1 = 2", "proof": "Proof. Admitted."},
            {"id": "broken", "backend": "coq"},
            {"code": TRUE},
        ],
        "lean4_requirements": [{"requirement_text": "adding zero changes nothing", "id": "req"}],
        "options": {"session_id": "s-1", "track_id": 7},
    }
    resp = bridge.post("/bridge/complete", json=body)
    assert resp.status_code == 200
    data = resp.json()
    results = data["results"]
    assert data["proof_results"] == results
    assert [(r["item_id"], r["status"]) for r in results] == [
        ("true", "proved"),
        ("false", "failed"),
        ("broken", "error"),
        (3, "proved"),
        ("req", "proved"),
    ]
    assert results[0]["metadata"] == {"source": "unit"} and results[0]["backend"] == "coq"
    assert data["summary"] == {
        "items": 5,
        "proved": 3,
        "failed": 2,
        "unproved": 2,
        "unavailable": 0,
    }
    assert data["statistics"] == {"successful_proofs": 3, "failed_proofs": 2, "unproved": 2}
    requirement = results[4]
    assert requirement["formal_statement"] == "Theorem add_0 : forall n : nat, n + 0 = n."
    assert requirement["statement_matches"] is True and len(requirement["attempts"]) == 1
    assert requirement["usage"]["total_tokens"] > 0 and requirement["model"] == "openai/mock"
    manifest = data["run_manifest"]
    assert manifest["schema"] == "canonical+certainly@v1"
    assert (manifest["session_id"], manifest["track_id"]) == ("s-1", "7")
    assert manifest["item_ids"] == ["true", "false", "broken", 3, "req"]
    assert manifest["provider"] == {"name": "certainly", "backend": "coq"}
    assert manifest["backends"]["coq"] and data["duration_ms"] > 0


def test_a_lone_user_message_is_the_requirement(bridge: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "prove that n + 0 = n"}]}
    data = bridge.post("/bridge/complete", json=body).json()
    [result] = data["results"]
    assert result["requirement"] == "prove that n + 0 = n" and result["status"] == "proved"


def test_flags_become_options_and_no_llm_is_honoured(
    bridge: TestClient, model: MockLLMServer
) -> None:
    model.clear()
    body = {
        "items": [{"id": "t", "code": TRUE}, {"id": "r", "requirement": "n + 0 = n"}],
        "lean4_flags": ["--deterministic", "--no-llm", "--max-refinements=0", "--best-of", "3"],
    }
    data = bridge.post("/bridge/complete", json=body).json()
    options = data["run_manifest"]["options"]
    assert options["deterministic"] is True and options["use_llm"] is False
    assert (options["max_refinements"], options["best_of"]) == (0, 3)
    checked, requirement = data["results"]
    assert checked["status"] == "proved"
    assert requirement["status"] == "error" and "--no-llm" in requirement["messages"][0]["text"]
    assert model.requests == []


def test_a_hung_item_times_out_and_the_rest_is_kept(bridge: TestClient) -> None:
    items = [{"id": "spin", "code": SPIN}, {"id": "true", "code": TRUE}]
    data = bridge.post("/bridge/complete", json={"items": items, "options": {"max_seconds": 3}})
    spin, true = data.json()["results"]
    assert spin["status"] == "timeout" and true["status"] == "proved"
    assert data.json()["run_manifest"]["options"]["max_seconds"] == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"backend": "isabelle", "items": [{"code": TRUE}]}, "unknown backend 'isabelle'"),
        ({"items": []}, "no items"),
        ({"messages": [{"role": "system", "content": "x"}]}, "no items"),
        ({"items": {"code": TRUE}}, "'items' must be a list"),
        ({"items": [{"code": TRUE}], "lean4_flags": ["--load-path=/etc"]}, "unknown flag"),
        ({"items": [{"code": TRUE}], "lean4_flags": "--deterministic"}, "list of strings"),
        (
            {"items": [{"code": TRUE}], "provider": {"args": {"flags": ["--best-of=99"]}}},
            "best_of must be an integer from 1 to 8",
        ),
        ({"items": [{"code": TRUE}], "lean4_flags": ["--best-of"]}, "needs a value"),
        ({"items": [{"code": TRUE}], "options": {"max_seconds": -1}}, "max_seconds"),
        ({"items": [{"code": TRUE}], "options": {"timeout": 5}}, "unknown option(s) timeout"),
        ([{"code": TRUE}], "JSON object"),
    ],
)
def test_a_malformed_envelope_is_a_400(bridge: TestClient, body: Any, message: str) -> None:
    error = error_of(bridge.post("/bridge/complete", json=body), 400)
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_items_with_an_unknown_backend_get_their_own_errors(bridge: TestClient) -> None:
    body = {"items": [{"id": "x", "backend": "isabelle", "code": TRUE}, "not an item"]}
    resp = bridge.post("/bridge/complete", json=body)
    assert resp.status_code == 200
    unknown, garbage = resp.json()["results"]
    assert (
        unknown["status"] == "error"
        and "unknown backend 'isabelle'" in unknown["messages"][0]["text"]
    )
    assert garbage["status"] == "error" and garbage["item_id"] is None


def test_a_body_that_is_not_json_is_a_400(bridge: TestClient) -> None:
    resp = bridge.post(
        "/bridge/complete", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = error_of(resp, 400)
    assert "not valid JSON" in error["message"] and error["code"] == "invalid_json"


def test_unknown_routes_and_methods_answer_in_shape(bridge: TestClient) -> None:
    missing = error_of(bridge.get("/v1/models"), 404)
    assert missing["code"] == "not_found" and missing["type"] == "invalid_request_error"
    assert error_of(bridge.get("/bridge/complete"), 405)["code"] == "method_not_allowed"
    assert error_of(bridge.post("/healthz", json={}), 405)["code"] == "method_not_allowed"


def test_a_token_is_required_when_set_but_healthz_stays_open(model: MockLLMServer) -> None:
    body = {"items": [{"id": "t", "code": TRUE}]}
    with client(model, ServiceConfig(token="s3cret")) as guarded:
        error = error_of(guarded.post("/bridge/complete", json=body), 401)
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        for given in ("Bearer nope", "Bearer s3cret2", "s3cret", "Basic s3cret", "Bearer"):
            resp = guarded.post("/bridge/complete", json=body, headers={"Authorization": given})
            assert error_of(resp, 401)["type"] == "authentication_error", given
        assert error_of(guarded.get("/nope"), 401)["type"] == "authentication_error"
        right = {"Authorization": "Bearer s3cret"}
        resp = guarded.post("/bridge/complete", json=body, headers=right)
        assert resp.status_code == 200 and resp.json()["summary"]["proved"] == 1
        health = guarded.get("/healthz")
    assert health.status_code == 200 and health.json()["auth"] is True


def test_the_token_comes_from_the_environment(
    model: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SCILLM_CERTAINLY_TOKEN", "SCILLM_SERVICE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CERTAINLY_TOKEN", "from-env")
    config = ServiceConfig.from_env("certainly", legacy=SERVICE_LEGACY)
    assert config.token == "from-env" and config.port == 8787
    monkeypatch.setenv("SCILLM_CERTAINLY_TOKEN", "newer")  # the scillm name wins
    with client(model) as guarded:  # no config given: the app reads the environment
        body = {"items": [{"id": "t", "code": TRUE}]}
        assert guarded.post("/bridge/complete", json=body).status_code == 401
        resp = guarded.post(
            "/bridge/complete", json=body, headers={"Authorization": "Bearer newer"}
        )
    assert resp.status_code == 200


def test_without_any_prover_both_endpoints_answer_503(model: MockLLMServer) -> None:
    with client(model, **NO_PROVER) as no_prover:
        health = no_prover.get("/healthz")
        resp = no_prover.post("/bridge/complete", json={"items": [{"id": "t", "code": TRUE}]})
    assert health.status_code == 503 and health.json()["ok"] is False
    problem = health.json()["problem"]
    assert "no prover is installed" in problem and "apt-get install coq" in problem
    assert "elan" in problem  # and how to get Lean
    error = error_of(resp, 503)
    assert "apt-get install coq" in error["message"]
    assert error["code"] == "engine_unavailable" and error["type"] == "server_error"


def test_a_backend_that_is_not_installed_is_a_503(bridge: TestClient) -> None:
    if available_backends()["lean4"]["available"]:
        pytest.skip("a Lean toolchain is installed here")
    body = {"backend": "lean4", "items": [{"id": "t", "code": "theorem t : True := trivial"}]}
    error = error_of(bridge.post("/bridge/complete", json=body), 503)
    assert "lean4" in error["message"] and error["code"] == "engine_unavailable"


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="backend"):
        BridgeSettings(backend="isabelle")
    with pytest.raises(ValueError, match="unknown bridge setting"):
        BridgeSettings.from_env(port=1)


def test_the_guard_checker_exploits_are_failed_and_name_the_prover_bugs(
    bridge: TestClient,
) -> None:
    items = [{"id": name, **EXPLOITS[name]} for name in ("guard_20455", "guard_20413")]
    resp = bridge.post("/bridge/complete", json={"messages": [], "items": items})
    assert resp.status_code == 200
    data = resp.json()
    assert data["summary"]["proved"] == 0
    for result in data["results"]:
        assert result["status"] == "failed"
        assert any("unsafe_recursion" in m["text"] for m in result["messages"])
        assert result["prover"] == "Coq" and result["version"] == result["backend_version"]
        if result["version"].startswith("8.16"):
            assert {"rocq#20413", "rocq#20455"} <= {bug["id"] for bug in result["known_bugs"]}


async def test_the_bridge_takes_a_router_and_its_429_is_retried() -> None:
    requirement = {"id": "req", "backend": "coq", "requirement_text": "n + 0 = n"}
    body = {"messages": [], "items": [requirement]}
    async with ScriptedModel([Fault.rate_limit(retry_after=0.2), PROOF]) as scripted:
        with scripted.router() as router:
            data = await Bridge(BridgeSettings(), model=(router, "scripted")).complete(body)
        calls = scripted.calls
    [result] = data["results"]
    assert calls == 2 and result["status"] == "proved"
    assert result["model"] == data["run_manifest"]["model"] == "scripted"


def test_a_bad_model_reference_is_refused_when_the_bridge_is_made() -> None:
    router = Router(
        model_list=[{"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "h"}}]
    )
    with pytest.raises(ValueError, match="unknown model group 'b'; this Router has: a"):
        Bridge(BridgeSettings(), model=(router, "b"))
    with pytest.raises(ValueError, match="api_base/api_key go with a model string"):
        Bridge(BridgeSettings(llm_api_base="http://127.0.0.1:9"), model=router)
    with pytest.raises(TypeError, match="a model is a model string, a scillm Router"):
        Bridge(BridgeSettings(), model=42)  # type: ignore[arg-type]
