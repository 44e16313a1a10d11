"""predict.py: convert a recording (or a folder of them) to the target instrument with a
trained model.

``predict.py --model M --input IN --output OUT``: ``M`` is a model directory
(its ``config.json`` gives the spectrogram settings and the level the model was
trained at) or the ``generator.keras`` inside one; ``IN`` a file or a folder
(then ``OUT`` is a folder). Each converted file gets one line: its level, the
gain that brought it to the model's level, the level it was written at, and
any limiting.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from timbre.audio import AUDIO_SUFFIXES, SUBTYPES, AudioWriter, is_audio_file
from timbre.cli.common import positive_int, run
from timbre.errors import AudioError

Plan = list[tuple[Path, Path, "Path | None"]]


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative (expected an integer >= 0)")
    return value


def build_parser() -> argparse.ArgumentParser:
    summary = " ".join(__doc__.split("\n\n")[0].split()).split(": ", 1)[1]
    parser = argparse.ArgumentParser(
        prog="predict.py", description=summary[0].upper() + summary[1:]
    )
    parser.add_argument(
        "--model", required=True, help="model directory, or the generator.keras inside one"
    )
    parser.add_argument(
        "--input",
        required=True,
        help=(
            "audio file (any format libsndfile reads, any rate, channels mixed to mono) or a folder"
        ),
    )
    parser.add_argument(
        "--output",
        required=True,
        help="output file (format from the suffix), or folder for a folder input (WAV files)",
    )
    parser.add_argument(
        "--phase",
        choices=("input", "griffinlim"),
        default="input",
        help="output phase: the input's, or fast Griffin-Lim started from it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=non_negative_int,
        default=32,
        help="Griffin-Lim iterations (default: %(default)s)",
    )
    parser.add_argument(
        "--sample_rate",
        type=positive_int,
        default=None,
        help="output rate in Hz (default: the input's)",
    )
    parser.add_argument(
        "--batch_size",
        type=positive_int,
        default=8,
        help="tiles per generator call (default: %(default)s)",
    )
    parser.add_argument(
        "--overlap",
        type=non_negative_int,
        default=None,
        help="frames shared by neighbouring tiles (default: tile_frames // 4)",
    )
    parser.add_argument(
        "--context",
        type=non_negative_int,
        default=None,
        help="edge frames of each tile treated as discarded context (default: overlap // 4)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="generator arithmetic: bfloat16 is about 2x faster on CPUs with AVX512-BF16/AMX "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--keep_level",
        choices=("on", "off"),
        default="on",
        help="on: the output comes back at the input's level; off: it stays at the level the "
        "model was trained at (the input is brought to that level either way) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--subtype",
        choices=SUBTYPES,
        default="FLOAT",
        help="sample format of WAV/FLAC outputs (default: %(default)s)",
    )
    parser.add_argument(
        "--plot",
        action="store_true",
        help="also write <output>.png with input and output spectrograms",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    return parser


def plan_paths(source: Path, target: Path, *, plot: bool, force: bool, subtype: str) -> Plan:
    """Pair inputs with outputs: a file with a file, a folder's audio files with WAVs in a folder.

    A folder is searched recursively (hidden files and the output folder skipped); ``IN/a/b.flac``
    goes to ``OUT/a/b.wav``. A file with an existing folder as output goes to
    ``OUT/<stem>.wav``. Plots go beside their outputs as ``.png``.

    Raises:
        AudioError: missing input, folder without audio files, a file where a
            folder is needed, unknown output format, or existing outputs without ``force``.
    """
    if not source.exists():
        raise AudioError(f"{source}: input not found (expected an audio file or a folder of them)")
    if source.is_dir():
        if target.is_file():
            raise AudioError(
                f"{target}: is a file (expected a folder, as the input {source} is a folder)"
            )
        inside = target.resolve()  # an output folder inside the input folder is not input
        files = sorted(
            p
            for p in source.rglob("*")
            if is_audio_file(p)
            and not any(part.startswith(".") for part in p.relative_to(source).parts)
            and inside not in p.resolve().parents
        )
        if not files:
            raise AudioError(
                f"{source}: no audio files (expected some of {' '.join(sorted(AUDIO_SUFFIXES))})"
            )
        outputs = [target / p.relative_to(source).with_suffix(".wav") for p in files]
    else:
        files, outputs = [source], [target / f"{source.stem}.wav" if target.is_dir() else target]
    AudioWriter(outputs[0], 44100, subtype)  # an unknown format fails here, before any work
    plan = [(i, o, o.with_suffix(".png") if plot else None) for i, o in zip(files, outputs)]
    existing = [p for _, o, png in plan for p in (o, png) if p is not None and p.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise AudioError(f"{existing[0]}: already exists{more}; use --force to overwrite")
    return plan


def _describe(result) -> str:
    """One line: the files, the level change and any limiting (nothing is ever clipped)."""
    line = (
        f"{result.input_path} -> {result.output_path} "
        f"({result.seconds:.2f} s at {result.sample_rate} Hz)"
    )
    if math.isfinite(result.level_db):
        model_db = result.level_db + result.gain_db
        line += (
            f"; level {result.level_db:.1f} dBFS, converted at {model_db:.1f} dBFS "
            f"({result.gain_db:+.1f} dB), written at "
            f"{model_db + result.output_gain_db:.1f} dBFS"
        )
    else:
        line += "; silent input, level unchanged"
    if result.limited:
        line += (
            f"; limited by up to {-result.limited_db:.1f} dB over "
            f"{result.limited_seconds:.2f} s (peak was {result.peak:.2f})"
        )
    else:
        line += "; no limiting"
    return line + (f"; plot {result.plot_path}" if result.plot_path else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Convert ``--input`` to ``--output``; exit status 1 on any error or failed file."""

    def body(args: argparse.Namespace) -> int:
        plan = plan_paths(
            Path(args.input),
            Path(args.output),
            plot=args.plot,
            force=args.force,
            subtype=args.subtype,
        )
        from timbre.conversion.converter import (
            load_converter,
        )  # TensorFlow loads only once the paths are fine

        converter = load_converter(
            args.model,
            phase=args.phase,
            iterations=args.iterations,
            batch_size=args.batch_size,
            overlap=args.overlap,
            context=args.context,
            precision=args.precision,
            keep_level=args.keep_level == "on",
        )
        several, failed = len(plan) > 1, 0
        for source, target, png in tqdm(plan, unit="file", disable=not several):
            try:
                result = converter.convert_file(
                    source,
                    target,
                    args.sample_rate,
                    subtype=args.subtype,
                    plot_path=png,
                    progress=not several,
                )
            except AudioError as e:
                if not several:
                    raise
                failed += 1
                tqdm.write(f"error: {e} (skipped)", file=sys.stderr)
                continue
            tqdm.write(_describe(result))
        if failed:
            print(f"error: {failed} of {len(plan)} files could not be converted", file=sys.stderr)
        return 1 if failed else 0

    return run(build_parser(), body, argv)
