"""Run scenarios against the stack and report: ``python -m scillm.scenarios.run_all``.

    python -m scillm.scenarios.run_all [NAME ...] [--json] [--stop-on-first-failure] [--no-start]

Runs every scenario (or the named ones) in order, starting the services that do not answer
(see :mod:`scillm.scenarios.stack`) and stopping them at the end. Prints one line per scenario
and the passed, skipped and failed counts (``--json``: one JSON object). Exit status: 1 when any
failed, 77 when none failed and none passed (everything skipped: nothing was verified), else 0;
2 for a bad name or URL, 130 when interrupted. ``SCENARIOS_STOP_ON_FIRST_FAILURE=1`` is
``--stop-on-first-failure``: the scenarios after a failure are listed as not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scillm._config import env_flag
from scillm.scenarios.base import EXIT_FAILED, EXIT_PASSED, EXIT_SKIPPED, Outcome, Scenario, execute
from scillm.scenarios.registry import all_scenarios, find
from scillm.scenarios.stack import Context

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "Report", "main", "run_one", "run_scenarios"]

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
MARKS = {"passed": "PASS", "skipped": "SKIP", "failed": "FAIL"}


class Report:
    """Outcomes of one run, the scenarios not run, and the services started for it."""

    def __init__(self, outcomes: list[Outcome], not_run: list[str], started: list[str]) -> None:
        self.outcomes, self.not_run, self.started = outcomes, not_run, started

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        if self.count("failed"):
            return EXIT_FAILED
        return EXIT_SKIPPED if not self.count("passed") else EXIT_PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [o.to_dict() for o in self.outcomes],
            "passed": self.count("passed"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "not_run": self.not_run,
            "started": self.started,
            "exit_code": self.exit_code,
        }

    def counts_line(self) -> str:
        line = ", ".join(f"{self.count(s)} {s}" for s in ("passed", "skipped", "failed"))
        return line + (f", {len(self.not_run)} not run" if self.not_run else "")


def run_scenarios(
    scenarios: Sequence[Scenario],
    *,
    stop_on_first_failure: bool = False,
    start: bool = True,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Report:
    """Run ``scenarios`` in order against one stack (started where needed, stopped after)."""
    outcomes: list[Outcome] = []
    with Context(start=start) as ctx:
        ctx.prepare(name for s in scenarios for name in s.services)
        for scenario in scenarios:
            if stop_on_first_failure and any(o.status == "failed" for o in outcomes):
                break
            outcome = execute(scenario, ctx)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        started = list(ctx.started)
    not_run = [s.name for s in scenarios[len(outcomes) :]]
    return Report(outcomes, not_run, started)


def run_command(
    names: Sequence[str], *, as_json: bool, stop_on_first_failure: bool, start: bool
) -> int:
    """The ``run``/``run-all`` commands: print the report, return the exit status."""
    try:
        scenarios = [find(n) for n in names] if names else all_scenarios()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = stop_on_first_failure or env_flag(False, "SCENARIOS_STOP_ON_FIRST_FAILURE")
    try:
        report = run_scenarios(
            scenarios,
            stop_on_first_failure=stop,
            start=start,
            on_outcome=None if as_json else _print_outcome,
        )
    except ValueError as exc:  # a malformed URL or flag in the environment
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        if report.started:
            print(f"started for this run (and stopped): {', '.join(report.started)}")
        for name in report.not_run:
            print(f"---- {name}: not run (stopped at the first failure)")
        print(report.counts_line())
    return report.exit_code


def _print_outcome(outcome: Outcome) -> None:
    print(
        f"{MARKS[outcome.status]} {outcome.name} ({outcome.seconds:.1f} s): {outcome.detail}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None, *, single: bool = False) -> None:
    """Command-line entry: run the scenarios and exit with the status (see the docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m scillm.scenarios.run_all", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stop-on-first-failure", action="store_true")
    parser.add_argument("--no-start", action="store_true", help="never start a service")
    args = parser.parse_args(argv)
    if single and len(args.names) != 1:
        parser.error("give no scenario names here")
    sys.exit(
        run_command(
            args.names,
            as_json=args.json,
            stop_on_first_failure=args.stop_on_first_failure,
            start=not args.no_start,
        )
    )


def run_one(scenario: Scenario) -> None:
    """``python -m scillm.scenarios.<module> [--json]``: run one scenario and exit 0/77/1."""
    main([scenario.name, *sys.argv[1:]], single=True)


if __name__ == "__main__":
    main()
