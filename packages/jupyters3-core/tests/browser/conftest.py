"""Real-browser fixtures: Debian's Chromium driven by Playwright's Python package.

Playwright is pointed at a Chromium that is already installed (``JS3_CHROMIUM``,
or ``chromium`` / ``chromium-browser`` / ``google-chrome`` on ``PATH``); its own
browser download (``playwright install``) is never used. Where no Chromium can
be found the browser tests skip, saying so. ``.ci/run`` installs Debian's
``chromium`` package first when it can.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyters3_testing.leaks import redact

# --import-mode=importlib and no __init__.py: let the tests `import lab_ui`.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``JS3_CHROMIUM`` if set, else the first Chromium found on ``PATH``."""
    configured = os.environ.get("JS3_CHROMIUM")
    if configured:
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def js3_chromium_path() -> str:
    """The Chromium executable the browser tests run (skips when there is none)."""
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium found: install Debian's `chromium` package "
            "(sudo apt-get install chromium; .ci/run does this when it can) "
            "or set JS3_CHROMIUM to a Chromium executable"
        )
    return path


@pytest.fixture
def js3_browser(js3_chromium_path: str) -> Iterator[Any]:
    """A headless Chromium for the test (Playwright's sync API).

    Per test, not per session: while Playwright's sync API is active its
    event loop counts as running in this thread, and every pytest-asyncio
    test that an xdist worker ran after it would fail ("Runner.run() cannot
    be called from a running event loop"). Starting it takes about a second.
    """
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=js3_chromium_path,
            headless=True,
            # Chromium refuses its sandbox as root (CI containers); /dev/shm is small there.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


class BrowserContexts:
    """Opens browser contexts (separate profiles: two users, or two sessions of one)
    and remembers them, with their console messages, for the failure report."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.console: list[str] = []

    def __call__(self) -> Any:
        context = self.browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(30_000)
        number = len(self.contexts)
        context.on(
            "page",
            lambda page: page.on(
                "console", lambda msg: self.console.append(f"[{number}] {msg.type}: {msg.text}")
            ),
        )
        self.contexts.append(context)
        return context

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def js3_browser_contexts(js3_browser: Any) -> Iterator[BrowserContexts]:
    """``js3_browser_contexts()`` opens a fresh browser profile; all close at teardown."""
    contexts = BrowserContexts(js3_browser)
    try:
        yield contexts
    finally:
        contexts.close()


@pytest.fixture
def js3_browser_context(js3_browser_contexts: BrowserContexts) -> Any:
    """A fresh browser profile (cookies, storage) for the test, downloads accepted."""
    return js3_browser_contexts()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On failure, save a screenshot of every open page and name them in the report."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    contexts = funcargs.get("js3_browser_contexts")
    if report.failed and call.when == "call" and contexts is not None:
        shots_dir = Path(os.environ.get("JS3_BROWSER_ARTIFACTS", "browser-artifacts"))
        shots_dir.mkdir(parents=True, exist_ok=True)
        pages = [page for context in contexts.contexts for page in context.pages]
        for number, page in enumerate(pages):
            target = shots_dir / f"{item.name}-{number}.png"
            try:
                page.screenshot(path=str(target), full_page=True)
            except Exception as exc:  # the page may be gone
                report.sections.append(("browser", f"no screenshot of page {number}: {exc!r}"))
            else:
                report.sections.append(("browser", f"screenshot: {target.resolve()}"))
        report.sections.append(("browser console (last 60)", "\n".join(contexts.console[-60:])))
        factory = funcargs.get("js3_jupyter_factory")
        for number, server in enumerate(getattr(factory, "servers", [])):
            tail = redact(server.log_tail(80), server.watched_secrets())
            report.sections.append((f"jupyter server {number} log (last 80 lines)", tail))
    return report
