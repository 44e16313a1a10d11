"""evaluate.py / ``timbre evaluate``: score a model's conversions against the true target.

The true target is the recording of the same piece by the target instrument.

A multi-target model is scored on every target it was trained for, each
against its own renderings, into ``<output>/<target>/`` with a one-row-per-
target ``summary.md`` beside them; ``--target`` scores one (and is needed
with ``--origin_dir``/``--target_dir``, whose target folder holds one
instrument).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import (
    add_model_flag,
    add_output_flags,
    positive_float,
    positive_int,
    run,
    start_tensorflow,
)
from timbre.errors import ConfigError, DatasetError, ModelError, TimbreError
from timbre.settings import ConvertConfig, add_arguments

RESULT_FILES = ("results.json", "results.csv", "results.md", "eval.png")  # written at the end
CONDITION_SETS = {"both": ["clean", "excerpt"], "all": ["clean", "excerpt", "recorded"]}


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
    add_model_flag(parser, required=True)
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
    add_arguments(parser, ConvertConfig, ("iterations", "batch_size"))
    parser.add_argument(
        "--max_hz",
        type=positive_float,
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
        type=positive_float,
        default=None,
        help="score only the first S seconds of each piece (default: whole pieces)",
    )
    parser.add_argument(
        "--condition",
        choices=[*CONDITION_SETS, "clean", "excerpt", "recorded"],
        default="clean",
        help="clean: whole pieces as rendered; excerpt: as recordings arrive (cut mid-piece at "
        "both ends, the input at a random peak level from -35 to -1 dBFS); recorded: the input "
        "through a simulated room, microphone, noise, band limit and MP3 (needs the [evaluate] "
        "extra's pyroomacoustics and pedalboard); both: clean and excerpt, all: all three, each "
        "into <output>/<condition> (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the excerpts' cuts and levels and of the recordings (default: 0)",
    )
    parser.add_argument(
        "--notes",
        choices=("on", "off"),
        default="on",
        help="notes_kept: transcribe every input and output with basic-pitch and score the "
        "note F1 of each output against its input (about 0.015 s per second of audio "
        "and system on a 2-core CPU); off leaves the column empty (default: %(default)s)",
    )
    parser.add_argument(
        "--target",
        help="a multi-target model's target to score (default with --features: every one, "
        "each into <output>/<target>/, and summary.md)",
    )
    add_output_flags(parser)
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.convert.backends import choose_backend
    from timbre.evaluate.scoring import (  # imported here so --help stays fast
        EvalConfig,
        evaluate,
        evaluate_targets,
    )
    from timbre.formats import shipped
    from timbre.formats.model_dir import ModelDir, check_model_file, read_model_info

    if (args.origin_dir is None) != (args.target_dir is None):
        raise ConfigError(
            "--origin_dir and --target_dir go together (expected both, or --features)"
        )
    args.model = shipped.resolve(args.model)  # a shipped model's name, or a path as given
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
    check_model_file(args.model)
    info = read_model_info(args.model)
    info.condition(args.target)  # an unknown target fails before any work
    every_target = bool(info.targets) and args.target is None
    if every_target and args.features is None:
        raise ConfigError(
            f"--target_dir with the multi-target model {args.model}: name the instrument its "
            f"recordings play with --target (one of {', '.join(info.targets)})"
        )
    conditions = CONDITION_SETS.get(args.condition, [args.condition])
    default = ModelDir(info.directory).eval
    for condition in conditions:
        _check_output(
            (args.output or default) / condition if len(conditions) > 1 else args.output or default
        )
    if choose_backend(info) == "keras":  # ONNX Runtime needs no TF
        start_tensorflow(args.verbose)
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
            notes=args.notes == "on",
        )
        output = args.output
        if len(conditions) > 1:
            output = (args.output or default) / condition
        try:
            if every_target:
                results, summary = evaluate_targets(
                    args.model, args.features, output, config, progress=not args.quiet
                )
                for target in results:
                    print(f"{target}: {(summary.parent / target / 'results.md').read_text()}")
                print(summary.read_text(), end="")
                print(f"\nwrote {summary} and <target>/results.* beside it\n")
                continue
            _, paths = evaluate(
                args.model,
                features_path=args.features,
                origin_dir=args.origin_dir,
                target_dir=args.target_dir,
                output_dir=output,
                config=config,
                progress=not args.quiet,
                target=args.target,
            )
        except OSError as e:  # a failed write (a full disk) that does not say where
            if isinstance(e, TimbreError) or e.filename is not None:
                raise
            raise OSError(e.errno, e.strerror or str(e), str(output or default)) from e
        print(paths["markdown"].read_text(), end="")
        print(f"\nwrote {', '.join(str(path) for path in paths.values())}\n")
    return 0


def _check_output(folder: Path) -> None:
    """Refuse, before any work, an output folder that cannot be made or written.

    Raises:
        ConfigError: a file on the way (the folder, or one of its parents, is a file),
            no permission to write, or a results file that is a folder.
    """
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file" if probe == folder else f"cannot be made: {probe} is a file"
        raise ConfigError(f"output folder {folder}: {where} (expected a folder or a new path)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {folder}: no permission to write in {probe}")
    for name in RESULT_FILES:
        if (folder / name).is_dir():
            raise ConfigError(f"{folder / name}: is a folder (expected a results file or nothing)")


def main(argv: Sequence[str] | None = None) -> int:
    return run(
        build_parser(),
        _body,
        argv,
        interrupted="rerun the same command to evaluate again (results are written when complete)",
    )
