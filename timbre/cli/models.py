"""``timbre models``: the models shipped inside the package (``predict.py`` uses the default)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from timbre.cli.common import run


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="timbre models",
        description="List the models shipped with timbre: pass a name to --model (predict.py, "
        "evaluate.py, timbre export, the Python API); without --model predict.py uses the "
        "default.",
    )


def _body(args: argparse.Namespace) -> int:
    from timbre.formats import shipped
    from timbre.formats.model_dir import ModelDir
    from timbre.io.atomic import read_json

    models = shipped.available()
    if not models:
        print(f"no shipped models in {shipped.FOLDER} (make pretrained builds the default)")
        return 0
    for name, folder in models.items():
        config = read_json(ModelDir(folder).config)
        default = " (default)" if name == shipped.DEFAULT else ""
        print(f"{name}{default}: {config.get('origin')} -> {config.get('target')}  {folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)
