"""Provider warm-up probe: one tiny call per model through a Router, with its timing.

Models: ``SCENARIO_WARMUP_MODELS`` (comma-separated, each with its provider's usual base and
key), else the stack's two — the embedded ``local/smollm2`` (needs the 'local' extra; skipped
with that reason when it is missing) and the mock server. Each must answer with generated
tokens and a finish reason; the timing of each call is in the result.
"""

from __future__ import annotations

import importlib.util
import time

from scillm._config import env
from scillm.scenarios.base import Scenario, Skip, check, placeholder_free
from scillm.scenarios.models import MOCK_MODEL
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

LOCAL = "local/smollm2"
PROMPT = [{"role": "user", "content": "Say hi."}]


def models(ctx: Context) -> list[dict[str, str]]:
    listed = placeholder_free(env("SCENARIO_WARMUP_MODELS"))
    if listed:
        return [{"model": m.strip()} for m in listed.split(",") if m.strip()]
    if importlib.util.find_spec("xllamacpp") is None:
        raise Skip(f"{LOCAL} needs the 'local' extra: pip install 'scillm[local]'")
    mock = {"model": MOCK_MODEL, "api_base": ctx.url("mock") + "/v1", "api_key": "sk-scenario"}
    return [{"model": LOCAL}, mock]


def run(ctx: Context) -> str:
    import scillm

    entries = models(ctx)
    router = scillm.Router(
        model_list=[{"model_name": e["model"], "litellm_params": e} for e in entries]
    )
    timings = []
    for entry in entries:
        t0 = time.perf_counter()
        resp = router.completion(
            model=entry["model"], messages=PROMPT, max_tokens=8, temperature=0, timeout=300
        )
        seconds = time.perf_counter() - t0
        choice = resp.choices[0]
        check(choice.finish_reason in ("stop", "length"), f"{entry['model']}: {choice}")
        check(resp.usage.completion_tokens > 0, f"{entry['model']}: no tokens: {resp.usage}")
        timings.append(f"{entry['model']} {seconds:.2f} s")
    return "warm: " + ", ".join(timings)


SCENARIO = Scenario(
    "provider_warmup_probe",
    "Provider warm-up: a tiny Router call per model, timed",
    ("mock",),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
