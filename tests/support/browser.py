"""A real browser for the console: Playwright for Python driving Debian's chromium.

Never a browser downloaded by ``playwright install``: the machines reach package registries
only, so ``.ci/run`` installs Debian's ``chromium`` and this module launches that binary.
Where there is none, :func:`browser_missing` says why, and the browser tests skip (or fail
where CI is set: tests/support/requirements.py).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def browser_missing() -> str | None:
    """Why no browser test can run here, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    if chromium_path() is None:
        return "no chromium: apt-get install -y chromium (.ci/run installs it)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium (a Playwright ``Browser``) for the length of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def console_login(page: Any, base_url: str, username: str, password: str = "pw") -> None:
    """Sign in through the admin's login form, as a person would."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """The first truthy result of ``check`` within ``timeout`` seconds (records are written
    by the gateway a moment after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
