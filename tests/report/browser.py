"""Headless Chromium driven over the DevTools protocol (aiohttp's websocket; no extra package):
load a page, collect console errors, uncaught exceptions and network requests, run a script,
take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

START_TIMEOUT_S = 30
LOAD_TIMEOUT_S = 60


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Page:
    """One tab: ``load(url)``, ``evaluate(js)``, ``screenshot(path)``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=LOAD_TIMEOUT_S)).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    async def wait_event(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = json.loads((await self.ws.receive(timeout=LOAD_TIMEOUT_S)).data)
            self.events.append(message)
            if message.get("method") == method:
                return message

    async def load(self, url: str) -> PageLoad:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")
        await self.evaluate("new Promise(r => setTimeout(r, 500))")  # let the charts settle
        seen = PageLoad()
        for event in self.events:
            method, params = event.get("method"), event.get("params") or {}
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args") or []
                seen.console_errors.append(" ".join(str(a.get("value", a)) for a in args))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                seen.console_errors.append(str(params["entry"].get("text")))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails") or {}
                seen.exceptions.append(str(details.get("exception", details)))
            elif method == "Network.requestWillBeSent":
                seen.requests.append(str(params["request"]["url"]))
        return seen

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def screenshot(self, path: Path) -> None:
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1200, height=int(height), deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium_page() -> AsyncIterator[Page]:
    """A page of a fresh headless Chromium (its own profile, no sandbox: tests run as root)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "needs chromium: apt-get install chromium"
    # Chromium's helpers (zygote, renderers, crashpad) may still write the profile as the
    # browser exits: they share its process group, which is killed whole below.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        log = Path(profile) / "stderr.log"
        with log.open("w") as stderr:
            proc = subprocess.Popen(
                [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}/data",
                 "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        try:
            port = await _devtools_port(proc, log)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as reply:
                    targets = await reply.json()
                url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                async with http.ws_connect(url, max_msg_size=0) as ws:
                    yield Page(ws)
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the browser's process group, SIGKILL it if the browser does not exit."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


async def _devtools_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port Chromium prints on stderr (written to ``log``) once DevTools listens."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read_text())
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    raise RuntimeError(f"chromium gave no DevTools port:\n{log.read_text()[-2000:]}")
