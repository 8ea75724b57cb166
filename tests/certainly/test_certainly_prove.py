"""The prove-and-refine pipeline: a scripted model on loopback, real coqc checking its drafts."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from scillm.certainly.prompts import Task, feedback, parse_reply
from scillm.certainly.prove import ProofResult, aprove, prove
from scillm.certainly.verdict import Message, Verdict
from scillm.testing import Fault, MockLLMServer, ScriptedModel

STATEMENT = "Theorem add_0 : forall n : nat, n + 0 = n."
WRONG = f"```coq\n{STATEMENT}\n```\n```coq\nProof. reflexivity. Qed.\n```"
RIGHT = f"```coq\n{STATEMENT}\n```\n```coq\nProof. induction n; simpl; auto. Qed.\n```"


def last_user(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def run(
    server: MockLLMServer, requirement: str | None = "adding zero changes nothing", **kwargs: Any
) -> ProofResult:
    return prove(requirement, model="openai/mock", api_base=server.base_url, api_key="k", **kwargs)


# -- reading replies (no prover needed) -----------------------------------------------------


REQUIREMENT = Task(id="r", backend="coq", requirement="n + 0 = n")
GIVEN = Task(id="s", backend="coq", statement="forall n : nat, n + 0 = n", imports=("Arith",))


def test_a_reply_with_two_blocks_gives_statement_imports_and_proof() -> None:
    reply = (
        "Here:\n```coq\nFrom Coq Require Import Lia.\nTheorem t : 1 = 1.\n```\n"
        "```coq\nProof. lia. Qed.\n```"
    )
    draft = parse_reply(reply, REQUIREMENT)
    assert not isinstance(draft, str)
    assert draft.imports == ("From Coq Require Import Lia.",)
    assert (draft.statement, draft.proof) == ("Theorem t : 1 = 1.", "Proof. lia. Qed.")


def test_one_block_is_split_after_the_statement() -> None:
    draft = parse_reply("```coq\nTheorem t : 1 = 1.\nProof. auto. Qed.\n```", REQUIREMENT)
    assert not isinstance(draft, str)
    assert (draft.statement, draft.proof) == ("Theorem t : 1 = 1.", "Proof. auto. Qed.")


def test_with_a_given_statement_only_the_proof_is_taken() -> None:
    reply = "```coq\nRequire Import Lia.\nTheorem x : 1 = 2.\nProof. lia. Qed.\n```"
    draft = parse_reply(reply, GIVEN)
    assert not isinstance(draft, str)
    assert draft.statement == GIVEN.statement  # the model cannot restate it
    assert draft.imports == ("Arith", "Require Import Lia.")
    assert draft.proof == "Proof. lia. Qed."


def test_a_lean_reply_splits_at_the_definition_sign() -> None:
    task = Task(id="l", backend="lean4", requirement="n + 0 = n")
    draft = parse_reply(
        "```lean\nimport Mathlib\ntheorem t (n : Nat) : n + 0 = n := by simp\n```", task
    )
    assert not isinstance(draft, str)
    assert draft.imports == ("import Mathlib",)
    assert (draft.statement, draft.proof) == ("theorem t (n : Nat) : n + 0 = n", "by simp")


def test_a_reply_without_code_says_what_format_is_wanted() -> None:
    answer = parse_reply("It is obviously true.", REQUIREMENT)
    assert isinstance(answer, str) and "no fenced code block" in answer and "two fenced" in answer


def test_feedback_quotes_the_messages_and_numbers_the_file() -> None:
    verdict = Verdict("s", "coq", "failed", (Message("error", 2, "Unable to unify."),))
    text = feedback(verdict, "Theorem t : 1 = 2.\nProof. reflexivity. Qed.", GIVEN)
    assert "- line 2: Unable to unify." in text
    assert "  2| Proof. reflexivity. Qed." in text and "corrected proof" in text


# -- the pipeline against real coqc ---------------------------------------------------------

coq = pytest.mark.requires("coqc", apt="coq")


@coq
def test_the_prover_error_goes_back_and_the_fix_is_proved() -> None:
    def replies(body: dict[str, Any]) -> str:
        return RIGHT if "Unable to unify" in last_user(body) else WRONG

    with MockLLMServer(reply=replies) as server:
        result = run(server, max_refinements=2)
        feedback_sent = last_user(server.requests[1].body or {})
    assert result.status == "proved" and result.proved
    assert result.statement == STATEMENT and "induction" in (result.proof or "")
    assert result.verdict is not None and result.verdict.statement_matches is True
    first, second = result.attempts
    assert first.verdict is not None and first.verdict.status == "failed" and first.round == 0
    assert second.verdict is not None and second.verdict.proved and second.round == 1
    assert "line 2" in feedback_sent and "2| Proof. reflexivity. Qed." in feedback_sent
    assert result.usage["total_tokens"] == sum(a.usage["total_tokens"] for a in result.attempts) > 0
    data = result.to_dict()
    assert (
        data["status"] == "proved" and len(data["attempts"]) == 2 and data["model"] == "openai/mock"
    )


@coq
def test_a_given_statement_cannot_be_swapped_for_a_weaker_one() -> None:
    cheat = "```coq\nAbort.\nTheorem scillm_goal : 1 = 1. Proof. reflexivity. Qed.\n```"
    with MockLLMServer(reply=cheat) as server:
        result = run(server, None, statement="1 = 2", max_refinements=1)
        calls = len(server.requests)
    assert result.status == "failed" and not result.proved and result.statement == "1 = 2"
    assert calls == 2 and len(result.attempts) == 2
    assert all(
        a.verdict is not None and a.verdict.statement_matches is False for a in result.attempts
    )


@coq
def test_best_of_runs_candidates_with_their_own_seeds() -> None:
    with MockLLMServer(reply=lambda body: RIGHT if body["seed"] == 8 else WRONG) as server:
        result = run(server, best_of=2, max_refinements=0, seed=7)
        seen = sorted((r.body or {})["seed"] for r in server.requests)
        temperatures = {(r.body or {})["temperature"] for r in server.requests}
    assert seen == [7, 8] and temperatures == {0.7}
    assert result.proved and {a.candidate for a in result.attempts} == {0, 1}
    winner = next(a for a in result.attempts if a.verdict is not None and a.verdict.proved)
    assert winner.candidate == 1


@coq
def test_an_unreadable_reply_is_answered_with_the_format() -> None:
    replies = iter(["I am confident it holds.", RIGHT])
    with MockLLMServer(reply=lambda body: next(replies)) as server:
        result = run(server)
        second_prompt = last_user(server.requests[1].body or {})
    assert result.proved and "no fenced code block" in second_prompt
    assert result.attempts[0].error is not None and result.attempts[0].verdict is None


def test_a_failing_model_is_recorded_not_raised() -> None:
    with MockLLMServer(reply=RIGHT) as server:
        server.enqueue(Fault.http(401))  # not retryable
        result = run(server)
    assert result.status == "error" and result.verdict is None and result.statement is None
    assert result.error is not None and "model call failed" in result.error
    assert len(server.requests) == 1


def test_a_model_string_is_retried_through_the_router() -> None:
    with MockLLMServer(reply=RIGHT) as server:
        server.enqueue(Fault.http(500), Fault.rate_limit(retry_after=0.05))
        result = run(server)
        calls = len(server.requests)
    assert result.proved and calls == 3
    with MockLLMServer(reply=RIGHT) as server:
        server.enqueue(*[Fault.http(503) for _ in range(3)])  # the first try and both retries
        result = run(server)
    assert result.status == "error" and "HTTP 503" in (result.error or "")


def test_a_429_mid_refinement_is_retried_on_a_router_group() -> None:
    limited = Fault.rate_limit(retry_after=0.2)
    with ScriptedModel([WRONG, limited, RIGHT]) as model:
        router = model.router()
        result = prove("adding zero changes nothing", model=(router, "scripted"))
        assert model.calls == 3 and model.left == 0
    assert result.proved and result.model == "scripted"
    assert [a.round for a in result.attempts] == [0, 1]
    assert result.attempts[0].verdict is not None and not result.attempts[0].verdict.proved


def test_a_router_with_a_cache_replays_prove_without_the_network(tmp_path: Any) -> None:
    with ScriptedModel([WRONG, RIGHT]) as model:
        with model.router(cache=tmp_path / "cache.sqlite") as router:
            first = prove("adding zero changes nothing", model=router)
            again = prove("adding zero changes nothing", model=router)
        assert model.calls == 2
    assert first.proved and again.proved

    def drafts(result: ProofResult) -> list[tuple[Any, ...]]:
        return [(a.statement, a.proof, a.verdict and a.verdict.status) for a in result.attempts]

    assert drafts(again) == drafts(first) and len(drafts(first)) == 2


def test_a_bad_model_reference_is_refused_before_any_call() -> None:
    with ScriptedModel() as model:
        router = model.router()
        with pytest.raises(ValueError, match="unknown model group 'nope'"):
            prove("x", model=(router, "nope"))
        with pytest.raises(ValueError, match="api_base/api_key go with a model string"):
            prove("x", model=router, api_base=model.base_url)
        with pytest.raises(TypeError, match="a model is a model string"):
            prove("x", model=42)  # type: ignore[arg-type]
        assert model.calls == 0


def test_a_missing_prover_is_unavailable_after_one_draft() -> None:
    with MockLLMServer(reply=RIGHT) as server:
        result = run(server, coqc_path="/nonexistent/coqc", max_refinements=3)
        calls = len(server.requests)
    assert result.status == "unavailable" and not result.proved and calls == 1


def test_the_model_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_CERTAINLY_MODEL", "openai/from-env")
    with MockLLMServer(reply="no code") as server:
        result = prove("1 = 1", api_base=server.base_url, api_key="k", max_refinements=0)
        model = (server.requests[0].body or {})["model"]
    assert model == "from-env" and result.model == "openai/from-env" and result.status == "error"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"requirement": None}, "requirement"),
        ({"backend": "isabelle"}, "unknown backend"),
        ({"best_of": 0}, "best_of"),
        ({"max_refinements": -1}, "max_refinements"),
        ({"imports": "Arith"}, "imports"),
        ({"axiom_allowlist": "classic"}, "axiom_allowlist"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any], match: str) -> None:
    call = {"requirement": "1 = 1", **kwargs}
    with pytest.raises(ValueError, match=match):
        prove(call.pop("requirement"), model="openai/unused", **call)


def test_prove_and_aprove_share_a_signature() -> None:
    assert inspect.signature(prove) == inspect.signature(aprove)
    assert inspect.iscoroutinefunction(aprove)
