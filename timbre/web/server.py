"""Serving the page on localhost: a static file server with the headers the page needs.

ONNX Runtime Web runs its WebAssembly on several threads only in a cross-origin isolated
page (``SharedArrayBuffer``), so every response says ``Cross-Origin-Opener-Policy:
same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp``; ``Cache-Control:
no-cache`` makes a rebuilt site show at the next load.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

from timbre.errors import ConfigError

HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cache-Control": "no-cache",
}
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self) -> None:
        for key, value in HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: the CLI says what it serves
        pass


def make_server(
    site: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000
) -> http.server.ThreadingHTTPServer:
    """A server of ``site`` on ``host:port`` (port 0: any free one), not yet serving.

    Raises:
        ConfigError: ``site`` is not a built site (no index.html).
        OSError: the port cannot be bound.
    """
    site = Path(site)
    if not (site / "index.html").is_file():
        raise ConfigError(f"{site}: not a built site (no index.html); run `make web`")
    handler = functools.partial(_Handler, directory=str(site))
    return http.server.ThreadingHTTPServer((host, port), handler)


def url(server: http.server.ThreadingHTTPServer) -> str:
    """The page's address on ``server``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_in_background(server: http.server.ThreadingHTTPServer) -> threading.Thread:
    """Serve on a daemon thread (tests, the benchmark); ``server.shutdown()`` ends it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
