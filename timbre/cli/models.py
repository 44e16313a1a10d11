"""``timbre models``: the models shipped inside the package (``predict.py`` uses the default)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from timbre.cli.common import run


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="timbre models",
        description="List the models shipped with timbre and the targets each converts to: "
        "pass a name to --model and a target (its short name or its NSynth name) to --target "
        "(predict.py, evaluate.py, timbre export, the Python API); without --model predict.py "
        "uses the default.",
    )


def _body(args: argparse.Namespace) -> int:
    from timbre.formats import instruments, shipped
    from timbre.formats.model_dir import read_model_info

    models = shipped.available()
    if not models:
        print(f"no shipped models in {shipped.FOLDER} (make pretrained builds the default)")
        return 0
    for name, folder in models.items():
        info = read_model_info(folder)
        default = " (default)" if name == shipped.DEFAULT else ""
        targets = info.converts_to
        listed = ", ".join(instruments.label(t) for t in targets) or "unknown"
        print(f"{name}{default}: {info.origin} -> {listed}  {folder}")
        if len(targets) > 1:
            print(
                f"  --target {' | '.join(instruments.short_name(t) for t in targets)} "
                f"(default {instruments.short_name(targets[0])})"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)
