"""evaluate.py / ``timbre evaluate``: score a model's conversions against the true target.

The true target is the recording of the same piece by the target instrument.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import add_output_flags, positive_int, run, start_tensorflow
from timbre.errors import ConfigError, DatasetError, ModelError


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evaluate.py",
        description=(
            "Convert every test piece with the model and score it against the target recording, "
            "next to two baselines: identity (the origin audio itself) and oracle (the target's "
            "own magnitude with the origin's phase). Writes results.json, results.csv, "
            "results.md and eval.png and prints the table, including the share of the "
            "identity-to-oracle gap the model closes."
        ),
    )
    parser.add_argument(
        "--model", required=True, type=Path, help="model directory (or its generator.keras)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--features",
        "--features_path",
        dest="features",
        type=Path,
        help="features folder (compute_features.py): its test split is scored",
    )
    source.add_argument(
        "--origin_dir",
        type=Path,
        help="instead of --features: folder of origin recordings (needs --target_dir)",
    )
    parser.add_argument(
        "--target_dir",
        type=Path,
        help="folder of the aligned target recordings, same file names as --origin_dir",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="output folder (default: <model>/eval)"
    )
    parser.add_argument(
        "--phase",
        choices=("input", "griffinlim", "both"),
        default="input",
        help="phase of the model's output: input (system 'model'), griffinlim "
        "('model_griffinlim') or both (default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=positive_int,
        default=32,
        help="Griffin-Lim iterations (default: %(default)s)",
    )
    parser.add_argument(
        "--batch_size",
        type=positive_int,
        default=8,
        help="tiles per generator call (default: %(default)s)",
    )
    parser.add_argument(
        "--max_hz",
        type=_positive_float,
        default=8000.0,
        help="upper edge of the compared band in Hz; the note banks hold nothing above 8 kHz "
        "(default: %(default)s; capped at the model's band)",
    )
    parser.add_argument(
        "--max_pieces",
        type=positive_int,
        default=None,
        help="score only the first N pieces, sorted by name (default: all)",
    )
    parser.add_argument(
        "--max_seconds",
        type=_positive_float,
        default=None,
        help="score only the first S seconds of each piece (default: whole pieces)",
    )
    parser.add_argument(
        "--condition",
        choices=["clean", "excerpt", "both"],
        default="clean",
        help="clean: whole pieces as rendered; excerpt: as recordings arrive (cut mid-piece at "
        "both ends, the input at a random peak level from -35 to -1 dBFS); both: each into "
        "<output>/clean and <output>/excerpt (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the excerpts' cuts and levels (default: 0)"
    )
    add_output_flags(parser)
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.conversion.backends import choose_backend
    from timbre.evaluation.scoring import EvalConfig, evaluate  # imported here so --help stays fast
    from timbre.modeldir import ModelDir, read_model_info

    if (args.origin_dir is None) != (args.target_dir is None):
        raise ConfigError(
            "--origin_dir and --target_dir go together (expected both, or --features)"
        )
    if not args.model.exists():
        raise ModelError(
            f"--model {args.model}: not found (expected a model directory or its generator.keras)"
        )
    for flag, folder in (
        ("--features", args.features),
        ("--origin_dir", args.origin_dir),
        ("--target_dir", args.target_dir),
    ):
        if folder is not None and not folder.is_dir():
            raise DatasetError(f"{flag} {folder}: folder not found")
    if choose_backend(read_model_info(args.model)) == "keras":  # ONNX Runtime needs no TF
        start_tensorflow(args.verbose)
    conditions = ["clean", "excerpt"] if args.condition == "both" else [args.condition]
    for condition in conditions:
        config = EvalConfig(
            phase=args.phase,
            iterations=args.iterations,
            batch_size=args.batch_size,
            max_hz=args.max_hz,
            max_pieces=args.max_pieces,
            max_seconds=args.max_seconds,
            condition=condition,
            seed=args.seed,
        )
        output = args.output
        if len(conditions) > 1:
            output = (
                args.output or ModelDir(read_model_info(args.model).directory).eval
            ) / condition
        _, paths = evaluate(
            args.model,
            features_path=args.features,
            origin_dir=args.origin_dir,
            target_dir=args.target_dir,
            output_dir=output,
            config=config,
            progress=not args.quiet,
        )
        print(paths["markdown"].read_text(), end="")
        print(f"\nwrote {', '.join(str(path) for path in paths.values())}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(
        build_parser(),
        _body,
        argv,
        interrupted="nothing was written; rerun the same command to evaluate again",
    )
