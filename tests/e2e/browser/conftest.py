"""The web console in a real browser: `tongban demo` as a subprocess, Debian's chromium through
Playwright, and a page per test that fails the test on a page error or a 5xx answer.

Outside CI (``CI`` not ``true``) the whole package skips with a message when chromium or
Playwright is missing or the demo cannot start; under CI that is a failure. Screenshots go to
``test-artifacts/screenshots/`` at the repository root (git-ignored); look at them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import Shoot

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
TONGBAN = Path(sys.executable).with_name("tongban")
DEMO_START_TIMEOUT = 180.0
# Flags that work as root in a closed network (no sandbox, no GPU, nothing phoning home).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# Chromium reports every 4xx answer as a console error; the tests provoke some on purpose
# (a wrong key, a refused settlement), and the page shows them in `error`.
_CLIENT_ERROR_LOG = re.compile(r"Failed to load resource: the server responded with a status of 4")

def unavailable(message: str) -> None:
    """Fail under CI (CI=true), where the browser and the demo are part of the job; skip
    elsewhere, with the message saying what to install."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def chromium_path() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


class DemoProcess:
    """`tongban demo` serving on a free port; its output is drained by a thread (a full pipe
    would block the server) and kept for error messages."""

    def __init__(self, data_dir: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(TONGBAN), "demo", "--scale", "0.02", "--seed", "7", "--data-dir",
             str(data_dir), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self, last: int = 40) -> str:
        return "\n".join(self.lines[-last:])

    def wait_for_console(self, timeout: float) -> str:
        """The base URL (http://127.0.0.1:PORT) once the console's address is printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "\n".join(self.lines)
            if "/console/" in text:
                found = re.search(r"http://127\.0\.0\.1:\d+", text)
                if found:
                    return found.group(0)
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"tongban demo exited with {self.process.returncode}:\n{self.output()}"
                )
            time.sleep(0.2)
        raise RuntimeError(f"tongban demo printed no console address in {timeout} s:\n"
                           f"{self.output()}")

    def wait_for_answer(self, url: str, timeout: float) -> httpx.Response:
        """The first answer to GET url: the address is printed before the server listens."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return httpx.get(url, timeout=10)
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a fresh demo network (scale 0.02, seed 7), served until the end."""
    if not TONGBAN.is_file():
        unavailable(f"the tongban script is not installed beside {sys.executable}")
    demo = DemoProcess(tmp_path_factory.mktemp("console-demo"))
    try:
        try:
            base = demo.wait_for_console(DEMO_START_TIMEOUT)
        except RuntimeError as exc:
            unavailable(f"the demo did not start: {exc}")
        answer = demo.wait_for_answer(f"{base}/console/", 30.0)
        assert answer.status_code == 200, (
            f"GET /console/ answered {answer.status_code}: the console page is not served"
        )
        yield base
    finally:
        demo.stop()


@pytest.fixture(scope="session")
def console_url(demo_server: str) -> str:
    return f"{demo_server}/console/"


@pytest.fixture(scope="session")
def demo_samples(demo_server: str) -> dict[str, Any]:
    """`/console/api/demo`: the operator key, the demo date, institutions and residents."""
    answer = httpx.get(f"{demo_server}/console/api/demo", timeout=10)
    assert answer.status_code == 200, answer.text
    samples: dict[str, Any] = answer.json()
    return samples


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        unavailable("chromium not found: install Debian chromium (apt install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]'")
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def _watched_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A page in a fresh context (its own storage) that records uncaught errors, console
    errors and answers of 500 or more; the test fails at teardown if there was any."""
    context = browser.new_context(locale="zh-CN", accept_downloads=True, **context_options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not _CLIENT_ERROR_LOG.search(message.text):
            problems.append(f"console error: {message.text}")

    def on_response(response: Any) -> None:
        if response.status >= 500:
            problems.append(f"{response.status} {response.request.method} {response.url}")

    def on_request_failed(request: Any) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure:  # navigations and downloads abort requests
            problems.append(f"request failed: {request.method} {request.url} {failure}")

    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    try:
        yield page
    finally:
        context.close()
    assert not problems, "the page had errors:\n" + "\n".join(problems)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from _watched_page(browser, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    yield from _watched_page(browser, viewport=PHONE, is_mobile=True, has_touch=True,
                             device_scale_factor=2)


@pytest.fixture(scope="session")
def shoot() -> Shoot:
    """shoot(page, name): a full-page screenshot at test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # From the top: a sticky header would otherwise be drawn where the page was scrolled.
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
