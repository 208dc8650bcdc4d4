"""Browser tests: the system Chromium (Playwright) against a real node serving the demo.

One node process (`partynet node demo`: SQLite in a temporary folder, a free port) and one
browser for the whole session. Without /usr/bin/chromium the tests are skipped, except under
CI=true, where that is a failure. PARTYNET_SCREENSHOTS=1 saves screenshots to docs/screenshots/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from node.demo import DEMO_PASSWORD, demo_host
from node.web.i18n import compile_catalogs

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PARTYNET = str(Path(sys.executable).with_name("partynet"))
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class LiveNode:
    port: int

    def url(self, path: str, tenant: str | None = "dadukou") -> str:
        """A URL on the tenant's own host name (`*.localhost` is this machine)."""
        host = demo_host(tenant) if tenant else "127.0.0.1"
        return f"http://{host}:{self.port}{path}"

    password: str = DEMO_PASSWORD
    #: The node's instance folder (its SQLite database, its signing key).
    instance: Path | None = None


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if _in_ci():
            pytest.fail(f"browser tests are required under CI: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_node(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[LiveNode]:
    compile_catalogs()
    port, folder = _free_port(), tmp_path_factory.mktemp("browser-node")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    log_path = folder / "node.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [PARTYNET, "node", "demo", "--port", str(port), "--workers", "1",
             "--instance", str(folder / "instance")],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the node exited: {log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the node did not get ready: {log_path.read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        yield LiveNode(port, instance=folder / "instance")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser: Any) -> Iterator[Any]:
    """`open_page(viewport)`: a page in a fresh context (no cookies) of that size."""
    contexts = []

    def open_(viewport: dict[str, int] = DESKTOP, *, enforce_csp: bool = False) -> Any:
        # The pages' CSP allows scripts from the node only: axe-core, injected from disk as
        # an inline script, needs it bypassed (test_the_pages_keep_their_own_csp does not).
        context = browser.new_context(viewport=viewport, bypass_csp=not enforce_csp)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_
    for context in contexts:
        context.close()


def check_accessibility(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page; return the serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scroll)."""
    return int(page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"))


def screenshot(page: Any, name: str) -> None:
    """Save docs/screenshots/<name>.png, only when PARTYNET_SCREENSHOTS=1."""
    if os.environ.get("PARTYNET_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# --- the hub's national portal (tests/browser/test_hub_portal.py) ------------------------------


def hub_command(port: int, folder: Path, *options: str) -> list[str]:
    """The seeded hub of tests/hub/web/live_server.py (`--console`: with an administrator)."""
    return [sys.executable, "-m", "tests.hub.web.live_server", "--port", str(port),
            "--folder", str(folder), *options]


@contextlib.contextmanager
def serve(command: list[str], ready: str, folder: Path, *, prefix: str
          ) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server (without the caller's `prefix`* settings) until the block ends; fail with
    its log if it exits or is not answering `ready` within two minutes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not get ready: {log_path.read_text()}")
            try:
                if requests.get(ready, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@dataclasses.dataclass(frozen=True)
class LiveHub:
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def live_hub(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    """A hub process with the portal tests' seeded network (tests/hub/web/seed.py)."""
    port, folder = _free_port(), tmp_path_factory.mktemp("browser-hub")
    with serve(hub_command(port, folder), f"http://127.0.0.1:{port}/", folder, prefix="HUB_"):
        yield LiveHub(port)
