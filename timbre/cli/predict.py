"""predict.py: convert a recording (or a folder of them) to the target instrument with a
trained model.

``predict.py --model M --input IN --output OUT``: ``M`` is a model directory
(its ``config.json`` gives the spectrogram settings and the level the model was
trained at) or the ``generator.keras`` inside one; ``IN`` a file or a folder
(then ``OUT`` is a folder). Each converted file gets one line: its level, the
gain that brought it to the model's level, the level it was written at, and
any limiting.

One run at a time writes an output folder (:func:`timbre.io.atomic.run_lock`; for a
file output, its folder). While a run is unfinished, ``.timbre-predict.json`` in
that folder records each output it starts, with a fingerprint of the input, the
model and the settings; a rerun of the same command after an interruption or a
failed file skips the outputs that are complete and converts the rest (no
``--force`` needed), and removes the temporary files a killed run left. The
record is removed once every file of a run is converted, so a later run
refuses existing outputs without ``--force`` as before.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from timbre.cli.common import add_model_flag, add_output_flags, run, start_tensorflow
from timbre.errors import AudioError
from timbre.formats import instruments, shipped
from timbre.formats.ledger import (
    FINGERPRINTED,
    Ledger,
    Plan,
    model_fingerprint,
    output_folder,
    plan_paths,
    remove_stale,
)
from timbre.formats.model_dir import check_model_file, read_model_info
from timbre.io.atomic import run_lock
from timbre.io.audio import SUBTYPES
from timbre.settings import ConvertConfig, add_arguments, fields_given
from timbre.settings.rules import SAMPLE_RATE, SAMPLE_RATES

INTERRUPTED = "rerun the same command to convert the rest; finished files are kept and skipped"


def build_parser() -> argparse.ArgumentParser:
    summary = " ".join(__doc__.split("\n\n")[0].split()).split(": ", 1)[1]
    parser = argparse.ArgumentParser(
        prog="predict.py", description=summary[0].upper() + summary[1:]
    )
    add_model_flag(parser, required=False)
    parser.add_argument(
        "--target",
        help="the instrument to convert to, for a model trained on several: its short name "
        "(guitar, strings, synth_lead) or its NSynth name (guitar_acoustic); default: the "
        "model's first; an unknown one is an error listing the model's (timbre models lists them)",
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
    add_arguments(parser, ConvertConfig, ("phase", "iterations"))
    parser.add_argument(
        "--sample_rate",
        type=SAMPLE_RATE,
        default=None,
        help=f"output rate in Hz, {SAMPLE_RATES[0]} to {SAMPLE_RATES[1]} (default: the input's)",
    )
    add_arguments(parser, ConvertConfig, ("batch_size", "overlap", "context", "precision"))
    keep_level = {f.name: f for f in dataclasses.fields(ConvertConfig)}["keep_level"]
    parser.add_argument(
        "--keep_level",
        choices=("on", "off"),
        default="on" if keep_level.default else "off",
        help=f"{keep_level.metadata['help']} (default: %(default)s)",
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
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing outputs (a rerun after an interruption needs no --force)",
    )
    add_output_flags(parser)
    return parser


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
            f"({result.gain_db:+.1f} dB), written at {result.output_level_db:.1f} dBFS"
        )  # the written file's level as measured (the network changes the level)
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


def _convert_all(
    converter, todo: Plan, fingerprints: list[str], ledger: Ledger, args, several: bool
) -> int:
    """Convert each planned file; returns how many failed (a full disk stops the run)."""
    failed = 0
    for (source, target, png), fingerprint in tqdm(
        list(zip(todo, fingerprints)), unit="file", disable=args.quiet or not several
    ):
        ledger.start(target, fingerprint)
        try:
            result = converter.convert_file(
                source,
                target,
                args.sample_rate,
                subtype=args.subtype,
                plot_path=png,
                progress=not (args.quiet or several),
            )
        except AudioError as e:
            if not target.exists():  # nothing was written (atomic): nothing to remember
                ledger.finish([target])
            if not several or getattr(e, "errno", None) == errno.ENOSPC:
                raise
            failed += 1
            tqdm.write(f"error: {e} (skipped)", file=sys.stderr)
            continue
        tqdm.write(_describe(result))
    return failed


def convert_settings(args: argparse.Namespace) -> ConvertConfig:
    """The conversion settings the flags give (checked)."""
    given = fields_given(args, ConvertConfig)
    return ConvertConfig(**{**given, "keep_level": args.keep_level == "on"})


def main(argv: Sequence[str] | None = None) -> int:
    """Convert ``--input`` to ``--output``; exit status 1 on any error or failed file."""

    def body(args: argparse.Namespace) -> int:
        settings = convert_settings(args)
        source, target = Path(args.input), Path(args.output)
        plan = plan_paths(source, target, plot=args.plot, subtype=args.subtype)
        generator = check_model_file(shipped.resolve(args.model))
        info = read_model_info(generator)
        chosen, _ = info.condition(args.target)  # an unknown target fails before any work
        if args.target is not None:
            args.target = chosen  # its NSynth name: --target guitar is --target guitar_acoustic
        if args.model is None:
            print(
                f"using the shipped model {generator.parent.name} ({generator.parent}); "
                "--model picks another"
            )
        if info.targets:
            print(
                f"converting to {instruments.label(chosen)} (the model's targets: "
                f"{', '.join(instruments.short_name(t) for t in info.targets)}; --target picks)"
            )
        folder = output_folder(source, target)
        with run_lock(folder, "predict.py"):
            remove_stale(plan, folder)
            fingerprinted = {name: getattr(args, name) for name in FINGERPRINTED}
            ledger = Ledger(folder, model_fingerprint(generator, fingerprinted))
            todo, fingerprints, skipped = ledger.todo(plan, args.force)
            if skipped:
                print(f"{skipped} of {len(plan)} files already converted by this command; kept")
            failed = 0
            if todo:
                from timbre.convert.backends import choose_backend
                from timbre.convert.converter import load_converter

                if choose_backend(info, settings.backend, settings.precision) == "keras":
                    start_tensorflow(args.verbose)  # TensorFlow loads only once the paths are fine

                converter = load_converter(
                    args.model, target=args.target, **dataclasses.asdict(settings)
                )
                failed = _convert_all(converter, todo, fingerprints, ledger, args, len(plan) > 1)
            if failed:
                print(
                    f"error: {failed} of {len(plan)} files could not be converted; rerun the same "
                    "command once they are fixed (converted files are kept)",
                    file=sys.stderr,
                )
                return 1
            ledger.finish([output for _, output, _ in plan])
        return 0

    return run(build_parser(), body, argv, interrupted=INTERRUPTED)
