"""``timbre web``: build the browser page and serve it on localhost (``make serve``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from timbre.cli.common import run


def build_parser() -> argparse.ArgumentParser:
    from timbre.web.site import DEFAULT_SITE

    parser = argparse.ArgumentParser(
        prog="timbre web",
        description="Build the browser page (the page, ONNX Runtime Web from web/node_modules, "
        "every shipped model) into --site and serve it on localhost: a recording is converted "
        "in the browser, nothing is uploaded. `make web` installs the npm packages first.",
    )
    parser.add_argument("--site", default=str(DEFAULT_SITE), help="the site's folder (rebuilt)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (0: any free)")
    parser.add_argument(
        "--build_only", action="store_true", help="build the site and exit without serving"
    )
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.web import server, site

    built = site.build_site(args.site)
    print(f"built the page in {built}")
    if args.build_only:
        return 0
    httpd = server.make_server(built, args.host, args.port)
    print(f"serving {server.url(httpd)}  (Ctrl-C stops)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        httpd.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
