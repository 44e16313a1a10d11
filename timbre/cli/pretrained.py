"""``make pretrained``: rebuild the shipped model from scratch and write its card.

``python -m timbre.cli.pretrained [--work build/pretrained]`` runs the demo
pipeline with the ``pretrained`` preset (:data:`timbre.recipes.presets.PRESETS`:
the generated corpus, the piano pool with Csound's pianos held out, the seeds,
the model size and the number of steps are all fixed there), resumable like the
demo, then packages the trained generator into ``timbre/pretrained/<name>/``:
``config.json``, ``generator.keras`` with its weights stored as float16
(all but the output layer's; conversion computes in float32:
:func:`timbre.tf.keras_generator.computing_in` upcasts them) and its ONNX copy
``generator.onnx`` (float16 weights; what ``predict.py`` runs by default), and
writes ``MODEL_CARD.md`` with the recipe and the evaluation. ``--onnx_only``
rewrites every shipped model's ``generator.onnx`` from its ``generator.keras``
alone (seconds; no data, no training).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import positive_int, run, start_tensorflow
from timbre.cli.demo import PrintedReport, print_summary
from timbre.formats import shipped
from timbre.recipes import pretrained


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m timbre.cli.pretrained", description=__doc__)
    parser.add_argument(
        "--work", type=Path, default=Path("build/pretrained"), help="working folder (resumable)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=600.0,
        help="training budget of each stage, minutes: the learning rate's cosine decays over it "
        "when the preset's epochs would take longer",
    )
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--start_from",
        type=Path,
        help="a model directory of the strings stage's recipe to start the shipped model from, "
        "instead of training that stage first (e.g. a model an earlier make pretrained shipped)",
    )
    parser.add_argument(
        "--onnx_only",
        action="store_true",
        help="only rewrite the shipped model's generator.onnx from its generator.keras",
    )
    return parser


def _body(args: argparse.Namespace) -> int:
    if args.onnx_only:
        start_tensorflow()
        for folder in shipped.available().values():
            print(f"written: {pretrained.ship_onnx(folder)}")
        return 0
    result, card = pretrained.rebuild(
        args.work,
        minutes=args.minutes,
        jobs=args.jobs,
        start_from=args.start_from,
        report=PrintedReport(),
        prepare_tensorflow=start_tensorflow,
    )
    print_summary(args.work, result)
    print(card.read_text())
    print(f"shipped model written to {card.parent}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
