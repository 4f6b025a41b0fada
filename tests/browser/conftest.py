"""The browser tier: Debian's chromium, headless, driven by Playwright, against the local stack of tests/support.

Playwright cannot download its own browser here (`playwright install` reaches a host other than the package
registries), so the test launches the system's chromium (`apt-get install chromium`; `.ci/run` and `make setup`
install it). Without it the tier fails with the install command rather than skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import ROOT
from tests.support.local_stack import RunningStack, base_url, local_stack

__all__ = ["RunningStack", "base_url", "browser", "local_stack", "screenshots"]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Root in a container: no user namespaces for the sandbox. No GPU, a small /dev/shm, no background calls home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the session."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium (make setup does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tier saves what the browser showed (.local/ is git-ignored)."""
    folder = ROOT / ".local" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
