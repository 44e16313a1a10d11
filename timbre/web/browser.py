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
from urllib.parse import urlsplit

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
    url: str = ""  # the page's address

    @property
    def from_site(self) -> tuple[str, ...]:
        """The requests to the page's own server."""
        here = urlsplit(self.url).netloc
        return tuple(r for r in self.requests if urlsplit(r).netloc == here)

    @property
    def elsewhere(self) -> tuple[str, ...]:
        """The requests that left the page's server (``blob:`` and ``data:`` URLs are the
        page's own memory, not requests to anyone)."""
        own = set(self.from_site)
        return tuple(
            r for r in self.requests if r not in own and urlsplit(r).scheme not in ("blob", "data")
        )


class Page:
    """The page open in headless Chromium; :meth:`convert` runs one conversion in it (the
    model stays loaded in the page's worker between conversions). A context manager.

    Raises:
        ConfigError: no Chromium or Playwright here (:func:`missing`).
    """

    def __init__(self, url: str) -> None:
        reason = missing()
        if reason:
            raise ConfigError(f"the browser page cannot be driven: {reason}")
        from playwright.sync_api import sync_playwright

        self.url = url
        self.requests: list[str] = []  # every URL the page asked for, so far
        self.console: list[str] = []  # the page's console errors, so far
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=find_chromium(), args=list(FLAGS)
            )
            self.page = self._browser.new_page(
                accept_downloads=True, viewport={"width": 1100, "height": 900}
            )
            self.page.on("request", lambda request: self.requests.append(request.url))
            self.page.on(
                "console", lambda m: self.console.append(m.text) if m.type == "error" else None
            )
            self.page.goto(url)
            self.page.wait_for_selector("body[data-state=ready]", timeout=60_000)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_browser", None) is not None:
            self._browser.close()
        self._playwright.stop()

    def convert(
        self,
        audio: str | os.PathLike,
        download_dir: str | os.PathLike,
        *,
        model: str | None = None,
        target: str | None = None,
        screenshot: str | os.PathLike | None = None,
        timeout_s: float = 300.0,
    ) -> PageRun:
        """Pick ``audio`` (and ``model``, ``target``), convert, download the result into
        ``download_dir``; optionally save a screenshot of the page after the conversion.

        Raises:
            ConfigError: the page showed an error (its status line, naming the file).
        """
        page = self.page
        if model is not None:
            page.select_option("#model", model)
        if target is not None:
            page.select_option("#target", target)
        page.set_input_files("#file", str(audio))
        page.evaluate("document.body.dataset.state = 'asked'")  # no earlier run's "done"
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
        return PageRun(output, timing, status, tuple(self.requests), tuple(self.console), self.url)


def convert_in_page(url: str, audio: str | os.PathLike, download_dir: str | os.PathLike, **kwargs):
    """One conversion in a fresh page: :class:`Page` opened at ``url``, :meth:`Page.convert`
    with ``kwargs``, closed. Returns the :class:`PageRun`.
    """
    with Page(url) as page:
        return page.convert(audio, download_dir, **kwargs)
