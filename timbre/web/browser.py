"""The page driven in headless Chromium, as a user would: pick a file, convert, download.

For the tests and ``bench/bench_web.py``: Playwright's Python package (the ``test`` extra)
drives the system's Chromium (Debian's ``chromium``, which ``make`` installs); nothing is
downloaded. Every request the page makes is recorded, so a caller can check that none left
localhost.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from timbre.errors import ConfigError

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = (  # headless on a machine with no network and no GPU: no background requests
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


def find_chromium() -> str | None:
    """The system Chromium's path (``$TIMBRE_CHROMIUM`` first), or ``None``."""
    candidates = [os.environ.get("TIMBRE_CHROMIUM", ""), *CHROMIUM, shutil.which("chromium")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def missing() -> str | None:
    """Why the page cannot be driven here (no Chromium, no Playwright), or ``None``."""
    import importlib.util

    if find_chromium() is None:
        return "no Chromium (apt-get install chromium, or set TIMBRE_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python package is not installed (pip install 'timbre[test]')"
    return None


@dataclasses.dataclass(frozen=True)
class PageRun:
    """One conversion in the page."""

    output: Path  # the downloaded WAV
    timing: dict  # window.timbreTiming: seconds of audio, total, decode, convertSeconds, ...
    status: str  # the status line the page showed
    requests: tuple[str, ...]  # every URL the page asked for
    console: tuple[str, ...]  # the page's console errors


def convert_in_page(
    url: str,
    audio: str | os.PathLike,
    download_dir: str | os.PathLike,
    *,
    model: str | None = None,
    target: str | None = None,
    screenshot: str | os.PathLike | None = None,
    timeout_s: float = 300.0,
) -> PageRun:
    """Open the page at ``url``, convert ``audio`` and download the result into
    ``download_dir``; optionally save a screenshot of the page after the conversion.

    Raises:
        ConfigError: no Chromium or Playwright here (:func:`missing`), or the page showed
            an error (its status line).
    """
    reason = missing()
    if reason:
        raise ConfigError(f"the browser page cannot be driven: {reason}")
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    console: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(FLAGS))
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]", timeout=60_000)
            if model is not None:
                page.select_option("#model", model)
            if target is not None:
                page.select_option("#target", target)
            page.set_input_files("#file", str(audio))
            page.click("#convert")
            page.wait_for_selector(
                "body[data-state=done], body[data-state=error]", timeout=timeout_s * 1000
            )
            status = page.inner_text("#status")
            if page.get_attribute("body", "data-state") == "error":
                raise ConfigError(f"{audio}: the page failed: {status}")
            timing = page.evaluate("window.timbreTiming")
            with page.expect_download() as download:
                page.click("#download")
            output = Path(download_dir) / download.value.suggested_filename
            download.value.save_as(output)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return PageRun(output, timing, status, tuple(requests), tuple(console))
