"""The terminal side of ``scillm batch --provider-batch``: run, report progress, say how to resume.

Ctrl-C (or SIGTERM) leaves the submitted batches running at the provider and says how to pick
them up (rerun the same command); with ``--cancel-on-exit`` they are cancelled instead, and a
rerun merges whatever they finished.
"""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.markup import escape

from scillm.batch.command import InputError, Plan
from scillm.batch.provider_batch import ProviderBatchRun, ProviderBatchSettings
from scillm.batch.summary import BatchSummary
from scillm.errors import ScillmError

__all__ = ["run_provider"]


def run_provider(
    plan: Plan,
    settings: ProviderBatchSettings,
    summary: BatchSummary,
    progress: bool,
    err: Console,
) -> bool | None:
    """Run the plan through the provider's Batch API and write the summary.

    True: done (or interrupted); False: the output could not be written or the provider
    failed; None: the options or input turned out unusable (exit status 2).
    """

    def say(message: str) -> None:
        err.print(escape(message), highlight=False)

    try:
        run = ProviderBatchRun(plan, settings, summary, say)
    except InputError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        plan.close()
        return None
    run.quiet_progress = not progress
    try:
        asyncio.run(run.run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        summary.interrupted = True
        _stopped(run, settings, err)
    except InputError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return None
    except (OSError, ScillmError) as exc:
        err.print(
            f"[red]error:[/] {escape(str(exc))}; submitted batches are recorded: rerun the "
            "same command to resume",
            highlight=False,
        )
        return False
    finally:
        try:
            plan.checkpoint.write_summary(summary.as_dict())
        except OSError as exc:
            err.print(f"[yellow]warning:[/] could not write the summary: {escape(str(exc))}")
        plan.close()
    return True


def _stopped(run: ProviderBatchRun, settings: ProviderBatchSettings, err: Console) -> None:
    """Cancel the open batches (``--cancel-on-exit``) or say they keep running."""
    open_ids = [b.batch_id for b in run.open_batches if b.batch_id]
    if not open_ids:
        return
    if settings.cancel_on_exit:
        try:
            cancelled = asyncio.run(run.cancel_open())
        except (KeyboardInterrupt, OSError, ScillmError) as exc:
            err.print(f"[red]error:[/] cancelling the batches failed: {escape(str(exc))}")
            return
        err.print(
            f"cancelled {cancelled} batch(es); rerun the same command to merge what they "
            "finished and submit the rest"
        )
        return
    err.print(
        f"{len(open_ids)} batch(es) keep running at the provider ({', '.join(open_ids[:5])}"
        f"{', ...' if len(open_ids) > 5 else ''}); rerun the same command to resume polling "
        "and merge their results (--cancel-on-exit cancels them on Ctrl-C)",
        highlight=False,
    )
