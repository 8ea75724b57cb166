"""``scillm doctor``: run every check at once and decide READY or NOT READY.

    report = run_doctor(DoctorPlan(env_checks=list(ENV_CHECKS), targets=[...], services=[...]))
    report.ready(strict=False), report.as_dict(), report.markdown(strict=False)

READY when no check failed (a required check that cannot run fails; an optional one whose
tool is absent is skipped) and, with ``strict``, none was skipped. The report is
``{"ready", "strict", "checks": [{"name", "ok", "skipped", "required", "details",
"elapsed_ms"}]}``; the markdown summary carries ``**Summary**: READY`` / ``NOT READY`` like the
original's ``PROJECT_READY.md``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from scillm import _sync
from scillm.ops.checks import ENV_CHECKS, Check, check_service, model_check, timed
from scillm.ops.probe import probe_all
from scillm.ops.targets import Target, UsageError

__all__ = [
    "DoctorPlan",
    "DoctorReport",
    "ServiceProbe",
    "printable",
    "result_word",
    "run_doctor",
    "service_probe",
]

WILDCARD = ("0.0.0.0", "::", "")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes a server may have sent) shown as
    ``\\xNN``: for the table and the markdown, never raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True)
class ServiceProbe:
    """A service to ask: ``url`` is its health URL."""

    name: str
    url: str
    token: str | None


def service_probe(spec: str, token: str | None) -> ServiceProbe:
    """``NAME`` (the catalog's address, or ``SCILLM_<NAME>_PORT``) or ``NAME=URL`` (the
    service's base URL; its health path is appended). The token is ``token``, else
    ``SCILLM_<NAME>_TOKEN``, else ``SCILLM_SERVICE_TOKEN``. UsageError when ``spec`` is bad."""
    from scillm._request import TRANSPORT_CHECKS
    from scillm.errors import ScillmError
    from scillm.service import ServiceConfig
    from scillm.service.catalog import SERVICES

    name, _, base = spec.partition("=")
    name = name.strip()
    spec_of = SERVICES.get(name)
    if not name or (spec_of is None and not base):
        raise UsageError(f"--service {spec!r}: name one of {', '.join(SERVICES)}, or give NAME=URL")
    try:
        config = ServiceConfig.from_env(name, token=token)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--service {name}: {exc}") from None
    if base:
        try:
            TRANSPORT_CHECKS["api_base"]("URL", base)
        except ScillmError as exc:
            raise UsageError(f"--service {spec!r}: {exc}") from None
    else:
        host = "127.0.0.1" if config.host in WILDCARD else config.host
        base = replace(config, host=host).base_url()
    health = spec_of.health if spec_of is not None else "/healthz"
    return ServiceProbe(name, base.rstrip("/") + health, config.token or None)


@dataclass(frozen=True)
class DoctorPlan:
    """What to check: environment checks by name, provider models, services."""

    env_checks: list[str] = field(default_factory=lambda: list(ENV_CHECKS))
    targets: list[Target] = field(default_factory=list)
    services: list[ServiceProbe] = field(default_factory=list)
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    concurrency: int = 4


@dataclass(frozen=True)
class DoctorReport:
    """Every check's outcome, in a stable order (environment, models, services)."""

    checks: list[Check]

    def ready(self, strict: bool) -> bool:
        """No check failed and (``strict``) none was skipped."""
        return all(c.ok or (c.skipped and not strict) for c in self.checks)

    def as_dict(self, strict: bool) -> dict[str, Any]:
        return {
            "ready": self.ready(strict),
            "strict": strict,
            "checks": [check.as_dict() for check in self.checks],
        }

    def markdown(self, strict: bool) -> str:
        """The human summary (``PROJECT_READY.md``)."""
        verdict = "READY" if self.ready(strict) else "NOT READY"
        when = datetime.now(UTC).isoformat(timespec="seconds")
        lines = [
            "# scillm doctor",
            "",
            f"**Summary**: {verdict}",
            "",
            f"Checked {when} by `scillm doctor{' --strict' if strict else ''}`: {self._counts()}.",
            "",
            "| Check | Result | Required | Details |",
            "|---|---|---|---|",
        ]
        for c in self.checks:
            details = printable(c.details.replace("\n", " ")).replace("|", "\\|")
            lines.append(
                f"| {c.name} | {result_word(c)} | {'yes' if c.required else 'no'} | {details} |"
            )
        return "\n".join(lines) + "\n"

    def _counts(self) -> str:
        ok = sum(c.ok for c in self.checks)
        skips = sum(c.skipped for c in self.checks)
        return f"{ok} ok, {len(self.checks) - ok - skips} failed, {skips} skipped"


def result_word(check: Check) -> str:
    """``ok``, ``FAILED`` or ``skipped``."""
    return "ok" if check.ok else "skipped" if check.skipped else "FAILED"


def run_doctor(plan: DoctorPlan) -> DoctorReport:
    """Run every check of ``plan`` concurrently (providers at most ``concurrency`` at once)."""
    return DoctorReport(_sync.run(_run(plan)))


async def _run(plan: DoctorPlan) -> list[Check]:
    env = [timed(ENV_CHECKS[name][0], name, ENV_CHECKS[name][1]) for name in plan.env_checks]
    models = probe_all(
        plan.targets,
        api_base=plan.api_base,
        api_key=plan.api_key,
        timeout=plan.timeout,
        concurrency=plan.concurrency,
    )
    services = [
        check_service(s.name, s.url, s.token, min(plan.timeout, 30.0)) for s in plan.services
    ]
    env_done, probes, services_done = await asyncio.gather(
        asyncio.gather(*env), models, asyncio.gather(*services)
    )
    model_checks = [model_check(_model_name(r.target), r) for r in probes]
    return [*env_done, *model_checks, *services_done]


def _model_name(target: Target) -> str:
    served = f" ({target.served_by})" if target.served_by else ""
    return f"model {target.model}{served}"
