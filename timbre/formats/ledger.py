"""Predict's output plan and resume record, in one place (TensorFlow-free).

:func:`plan_paths` pairs each input with its output (and plot) path::

    IN (a file)             -> OUT, or OUT/<stem>.wav when OUT is an existing folder
    IN/<relative path>.ext  -> OUT/<relative path>.wav (OUT/<relative path>.ext.wav for inputs
                               whose names differ only in the suffix); plots beside as .png

While a run is unfinished, its output folder (:func:`output_folder`) holds the record::

    <folder>/.timbre-predict.json   {"version": 1, "outputs": {"<output, relative>": "<SHA-1>"}}

Each entry is the fingerprint of the input, the model and the settings that made that
output (:meth:`Ledger.fingerprint`); an output counts as complete only when it exists and its
entry matches the current command. The record is removed once every output of a run is
converted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timbre.errors import AudioError, DatasetError
from timbre.formats.model_dir import ModelDir
from timbre.io.atomic import read_json, remove_temporaries, write_json
from timbre.io.audio import AUDIO_SUFFIXES, AudioWriter, is_audio_file
from timbre.io.paths import not_regular, same_file

Plan = list[tuple[Path, Path, "Path | None"]]  # (input, output, plot or None)
LEDGER = ".timbre-predict.json"  # in the output folder while a run is unfinished
FINGERPRINTED = (
    "phase",
    "iterations",
    "sample_rate",
    "overlap",
    "context",
    "precision",
    "keep_level",
    "subtype",
    "target",
)  # the conversion settings that decide an output's content (predict.py's flags)


def plan_paths(source: Path, target: Path, *, plot: bool, subtype: str) -> Plan:
    """Pair inputs with outputs: a file with a file, a folder's audio files with WAVs in a folder.

    A folder is searched recursively (hidden files and the output folder skipped); ``IN/a/b.flac``
    goes to ``OUT/a/b.wav``. Inputs whose names differ only in the suffix (``x.wav`` and
    ``x.flac``) keep it: ``OUT/x.wav.wav`` and ``OUT/x.flac.wav``. A file with an existing folder
    as output goes to ``OUT/<stem>.wav``. Plots go beside their outputs as ``.png``.

    No output is ever one of the inputs, by any name (:func:`timbre.io.paths.same_file`:
    symbolic and hard links, ``./x.wav``), with or without ``--force``. An input that is not
    a regular file (a named pipe, a device) is refused; in a folder it is skipped with a
    warning.

    Raises:
        AudioError: missing input, an input that is not a regular file, folder without audio
            files, a file where a folder is needed (or a file name such as ``out.wav`` for a
            folder input), an output folder that is (or holds) the input folder, an output that
            is an input, unknown output format.
    """
    if not source.exists():
        raise AudioError(f"{source}: input not found (expected an audio file or a folder of them)")
    kind = not_regular(source)
    if kind:
        raise AudioError(
            f"{source}: is {kind}, not a regular file (expected an audio file or a folder of them)"
        )
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
        candidates = [
            p
            for p in source.rglob("*")
            if p.suffix.lower() in AUDIO_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(source).parts)
            and inside not in p.resolve().parents
        ]
        for p in candidates:
            kind = not_regular(p)
            if kind:
                warnings.warn(f"{p}: is {kind}, not a regular file; skipped", stacklevel=2)
        files = sorted(p for p in candidates if is_audio_file(p))
        if not files:
            raise AudioError(
                f"{source}: no audio files (expected some of {' '.join(sorted(AUDIO_SUFFIXES))})"
            )
        if target.suffix.lower() in AUDIO_SUFFIXES and not target.exists():
            raise AudioError(
                f"--output {target}: a file name, but the input {source} is a folder (expected "
                "a folder for the converted files, e.g. --output converted/)"
            )
        outputs = _output_names(source, target, files)
    else:
        files, outputs = [source], [target / f"{source.stem}.wav" if target.is_dir() else target]
    for i, o in zip(files, outputs):
        if same_file(i, o):
            raise AudioError(
                f"--output {o}: is the same file as the input {i}; "
                "predict never writes over its input, even with --force: choose another output"
            )
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


class Ledger:
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

    def todo(self, plan: Plan, force: bool) -> tuple[Plan, list[str], int]:
        """(outputs to convert, their fingerprints, outputs already complete).

        Raises:
            AudioError: an existing output this command did not start, without ``force``.
        """
        todo, fingerprints, skipped, existing = [], [], 0, []
        for source, output, png in plan:
            fingerprint = self.fingerprint(source, png)
            if self.complete(output, png, fingerprint):
                skipped += 1
                continue
            ours = self.entries.get(self.key(output)) == fingerprint  # started by this command
            existing += [p for p in (output, png) if p is not None and p.exists() and not ours]
            todo.append((source, output, png))
            fingerprints.append(fingerprint)
        if existing and not force:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise AudioError(f"{existing[0]}: already exists{more}; use --force to overwrite")
        return todo, fingerprints, skipped


def model_fingerprint(generator: Path, settings: Mapping[str, Any]) -> dict:
    """What, besides the input, decides an output's content: the model's files (size and
    modification time) and the conversion ``settings`` (:data:`FINGERPRINTED`)."""
    config = ModelDir(generator.parent).config
    files = {
        str(path.resolve()): [path.stat().st_size, path.stat().st_mtime_ns]
        for path in (generator, config)
        if path.is_file()
    }
    return {"model": files, **settings}


def remove_stale(plan: Plan, folder: Path) -> None:
    """Delete the temporary files a killed run left beside the planned outputs (we hold the
    folder's lock, so no live run owns them)."""
    remove_temporaries([folder, *(output.parent for _, output, _ in plan)])


def output_folder(source: Path, target: Path) -> Path:
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
