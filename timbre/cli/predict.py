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
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from timbre.cli.common import add_output_flags, run, start_tensorflow
from timbre.errors import AudioError, DatasetError
from timbre.formats import shipped
from timbre.formats.audio_folder import remove_temporaries
from timbre.formats.model_dir import ModelDir, check_model_file, read_model_info
from timbre.io.atomic import read_json, run_lock, write_json
from timbre.io.audio import AUDIO_SUFFIXES, SUBTYPES, AudioWriter, is_audio_file
from timbre.settings import ConvertConfig, add_arguments, fields_given

Plan = list[tuple[Path, Path, "Path | None"]]
OUTPUT_RATES = (8000, 192000)  # --sample_rate bounds, Hz
LEDGER = ".timbre-predict.json"  # in the output folder while a run is unfinished
INTERRUPTED = "rerun the same command to convert the rest; finished files are kept and skipped"


def output_rate(text: str) -> int:
    """argparse type: an output sample rate in :data:`OUTPUT_RATES`."""
    value = int(text)
    low, high = OUTPUT_RATES
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} Hz (expected {low} to {high} Hz)")
    return value


def build_parser() -> argparse.ArgumentParser:
    summary = " ".join(__doc__.split("\n\n")[0].split()).split(": ", 1)[1]
    parser = argparse.ArgumentParser(
        prog="predict.py", description=summary[0].upper() + summary[1:]
    )
    parser.add_argument(
        "--model",
        help="a model directory (or the generator.keras inside one), or the name of a model "
        "shipped with timbre (timbre models lists them; default: the shipped "
        "keyboard_to_strings)",
    )
    parser.add_argument(
        "--target",
        help="the instrument to convert to, for a model trained on several (default: its "
        "first; an unknown one is an error listing the model's)",
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
        type=output_rate,
        default=None,
        help="output rate in Hz, 8000 to 192000 (default: the input's)",
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


def plan_paths(source: Path, target: Path, *, plot: bool, subtype: str) -> Plan:
    """Pair inputs with outputs: a file with a file, a folder's audio files with WAVs in a folder.

    A folder is searched recursively (hidden files and the output folder skipped); ``IN/a/b.flac``
    goes to ``OUT/a/b.wav``. Inputs whose names differ only in the suffix (``x.wav`` and
    ``x.flac``) keep it: ``OUT/x.wav.wav`` and ``OUT/x.flac.wav``. A file with an existing folder
    as output goes to ``OUT/<stem>.wav``. Plots go beside their outputs as ``.png``.

    Raises:
        AudioError: missing input, folder without audio files, a file where a folder is
            needed, an output folder that is (or holds) the input folder, unknown output format.
    """
    if not source.exists():
        raise AudioError(f"{source}: input not found (expected an audio file or a folder of them)")
    if source.is_dir():
        if target.is_file():
            raise AudioError(
                f"{target}: is a file (expected a folder, as the input {source} is a folder)"
            )
        inside, where = target.resolve(), source.resolve()
        if inside == where or inside in where.parents:
            relation = "is" if inside == where else "contains"
            raise AudioError(
                f"--output {target}: {relation} the input folder {source} (expected another "
                "folder: converted files would mix with the recordings)"
            )
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
        outputs = _output_names(source, target, files)
    else:
        files, outputs = [source], [target / f"{source.stem}.wav" if target.is_dir() else target]
    AudioWriter(outputs[0], 44100, subtype)  # an unknown format fails here, before any work
    return [(i, o, o.with_suffix(".png") if plot else None) for i, o in zip(files, outputs)]


def _output_names(source: Path, target: Path, files: list[Path]) -> list[Path]:
    """``OUT/<relative stem>.wav``; inputs whose outputs would collide keep their suffix."""
    plain = [target / p.relative_to(source).with_suffix(".wav") for p in files]
    counts: dict[str, int] = {}
    for path in plain:
        counts[str(path).lower()] = counts.get(str(path).lower(), 0) + 1
    outputs = [
        target / p.relative_to(source).parent / f"{p.name}.wav" if counts[str(o).lower()] > 1 else o
        for p, o in zip(files, plain)
    ]
    if len({str(o).lower() for o in outputs}) < len(outputs):
        clash = [p for p, o in zip(files, plain) if counts[str(o).lower()] > 1]
        raise AudioError(
            f"{clash[0]} and {clash[1]}: would be written to one output file (expected names "
            "that differ in more than letter case); rename one"
        )
    return outputs


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


class _Ledger:
    """``<folder>/.timbre-predict.json``: output (relative path) -> fingerprint of what made it.

    An output counts as complete when it exists (written atomically, so whole) and its entry
    matches the fingerprint of the current command. Saved atomically before each conversion.
    """

    def __init__(self, folder: Path, base: dict) -> None:
        self.folder, self.path, self.base = folder, folder / LEDGER, base
        try:
            data = read_json(self.path) if self.path.is_file() else {}
        except DatasetError:
            data = {}  # a corrupt record: trust nothing, refuse existing outputs as usual
        entries = data.get("outputs") if isinstance(data, dict) else None
        self.entries: dict[str, str] = {
            name: value
            for name, value in (entries if isinstance(entries, dict) else {}).items()
            if (folder / name).is_file()  # an output never finished proves nothing
        }

    def fingerprint(self, source: Path, png: Path | None) -> str:
        stat = source.stat()
        made = {
            **self.base,
            "input": str(source.resolve()),
            "input_size": stat.st_size,
            "input_mtime_ns": stat.st_mtime_ns,
            "plot": png is not None,
        }
        return hashlib.sha1(json.dumps(made, sort_keys=True).encode()).hexdigest()

    def key(self, output: Path) -> str:
        return output.resolve().relative_to(self.folder.resolve()).as_posix()

    def complete(self, output: Path, png: Path | None, fingerprint: str) -> bool:
        done = output.is_file() and (png is None or png.is_file())
        return done and self.entries.get(self.key(output)) == fingerprint

    def start(self, output: Path, fingerprint: str) -> None:
        self.entries[self.key(output)] = fingerprint
        self._save()

    def finish(self, outputs: list[Path]) -> None:
        """Forget ``outputs`` (all converted); the record goes when nothing else is in it."""
        for output in outputs:
            self.entries.pop(self.key(output), None)
        if self.entries:
            self._save()
        elif self.path.exists():
            self.path.unlink()

    def _save(self) -> None:
        write_json(self.path, {"version": 1, "outputs": dict(sorted(self.entries.items()))})


def _model_fingerprint(generator: Path, args: argparse.Namespace) -> dict:
    """What, besides the input, decides an output's content."""
    config = ModelDir(generator.parent).config
    files = {
        str(path.resolve()): [path.stat().st_size, path.stat().st_mtime_ns]
        for path in (generator, config)
        if path.is_file()
    }
    settings = (
        "phase",
        "iterations",
        "sample_rate",
        "overlap",
        "context",
        "precision",
        "keep_level",
        "subtype",
        "target",
    )
    return {"model": files, **{name: getattr(args, name) for name in settings}}


def _remove_stale(plan: Plan, folder: Path) -> None:
    """Delete the temporary files a killed run left beside the planned outputs (we hold the
    folder's lock, so no live run owns them)."""
    remove_temporaries([folder, *(output.parent for _, output, _ in plan)])


def _output_folder(source: Path, target: Path) -> Path:
    """The folder this run writes (created): ``--output`` for a folder input, else its folder.

    Raises:
        AudioError: it cannot be created (a file in the way, no permission).
    """
    folder = target if source.is_dir() or target.is_dir() else target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioError(f"{folder}: cannot create the output folder ({e.strerror or e})") from e
    return folder


def _todo(plan: Plan, ledger: _Ledger, force: bool) -> tuple[Plan, list[str], int]:
    """(outputs to convert, their fingerprints, outputs already complete).

    Raises:
        AudioError: an existing output this command did not start, without ``force``.
    """
    todo, fingerprints, skipped, existing = [], [], 0, []
    for source, output, png in plan:
        fingerprint = ledger.fingerprint(source, png)
        if ledger.complete(output, png, fingerprint):
            skipped += 1
            continue
        ours = ledger.entries.get(ledger.key(output)) == fingerprint  # started by this command
        existing += [p for p in (output, png) if p is not None and p.exists() and not ours]
        todo.append((source, output, png))
        fingerprints.append(fingerprint)
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise AudioError(f"{existing[0]}: already exists{more}; use --force to overwrite")
    return todo, fingerprints, skipped


def _convert_all(
    converter, todo: Plan, fingerprints: list[str], ledger: _Ledger, args, several: bool
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
        if args.model is None:
            print(
                f"using the shipped model {generator.parent.name} ({generator.parent}); "
                "--model picks another"
            )
        if info.targets:
            print(f"converting to {chosen} (the model's targets: {', '.join(info.targets)})")
        folder = _output_folder(source, target)
        with run_lock(folder, "predict.py"):
            _remove_stale(plan, folder)
            ledger = _Ledger(folder, _model_fingerprint(generator, args))
            todo, fingerprints, skipped = _todo(plan, ledger, args.force)
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
