"""The paired-audio folder's layout and its ``manifest.json``, in one place (TensorFlow-free).

Written by :mod:`timbre.data.render`, read by :mod:`timbre.data.features` and
the demo. A folder of your own aligned recordings has no manifest:
:func:`from_folders` pairs its files by name and makes the split instead::

    <audios>/<instrument>/<piece>.wav
    <audios>/manifest.json   (version 1)
        {"version": 1, "synth": SynthConfig, "note_bank": {"source", "path", "programs"|"presets"},
         "sample_rate": 44100, "instruments": [...],
         "pieces": {"<piece>": {"midi": path, "seconds": s, "split": "train"|"val"|"test"}},
         "split": {"train": [...], "val": [...], "test": [...]}, "failed": {"<midi path>": reason}}

Piece and instrument names become file names, so a manifest whose names would
leave the folder (``..``, an absolute path, a path separator) is refused, and
so is a file inside the folder that resolves outside it (a symlinked instrument
folder or file: :func:`check_inside`). Every entry is type-checked when read, so
a hand-edited or corrupt manifest gets a message naming it, never a traceback.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from timbre.errors import ConfigError, DatasetError
from timbre.io.atomic import read_json, write_json

MANIFEST = "manifest.json"
VERSION = 1
SPLITS = ("train", "val", "test")  # split names, by piece (the feature store keeps the same)
MIDI_SUFFIXES = (".mid", ".midi")  # what a piece's "midi" entry may name (any letter case)


def manifest_path(audios_path: str | os.PathLike) -> Path:
    return Path(audios_path) / MANIFEST


def instrument_folder(audios_path: str | os.PathLike, instrument: str) -> Path:
    """``<audios>/<instrument>``, refused if it resolves outside ``audios_path`` (a symlink).

    Raises:
        DatasetError: names the manifest and both paths.
    """
    return check_inside(audios_path, Path(audios_path) / instrument, manifest_path(audios_path))


def piece_path(
    audios_path: str | os.PathLike,
    instrument: str,
    piece: str,
    source: str | os.PathLike | None = None,
) -> Path:
    """``<audios>/<instrument>/<piece>.wav``, refused unless it stays inside ``audios_path``.

    Every reader and writer of the folder names its files here: the names must be plain file
    names (:func:`check_name`) and the file must not resolve outside the folder
    (:func:`check_inside`; a symlinked instrument folder or file).

    Args:
        audios_path: the audio folder.
        instrument: instrument name (the sub-folder).
        piece: piece name (the file's stem).
        source: what the error names (default: the folder's manifest).

    Raises:
        DatasetError: a name that is not a plain file name, or a path resolving outside.
    """
    source = manifest_path(audios_path) if source is None else source
    check_name(source, "instrument", instrument)
    check_name(source, "piece", piece)
    return check_inside(audios_path, Path(audios_path) / instrument / f"{piece}.wav", source)


def check_name(source: str | os.PathLike, kind: str, name: Any) -> None:
    """Refuse a piece or instrument name that is not a plain file name (it would escape).

    Raises:
        DatasetError: names ``source`` and the offending entry.
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or os.path.isabs(name)
    ):
        raise DatasetError(
            f"{source}: {kind} name {name!r} is not a plain file name (expected no '/', '\\', "
            "'..' or absolute path: it would point outside the folder)"
        )


def check_inside(
    root: str | os.PathLike, path: str | os.PathLike, source: str | os.PathLike
) -> Path:
    """``path`` resolved (symlinks followed), refused unless it lies inside ``root`` resolved.

    For files named by a manifest under its own folder: a symlinked instrument
    folder or file that leads out of the folder is not followed, for reading or writing.

    Returns:
        ``path`` as given (it is safe to use).

    Raises:
        DatasetError: ``path`` resolves outside ``root``; names ``source`` and both paths.
    """
    base, resolved = Path(root).resolve(), Path(path).resolve()
    if resolved != base and base not in resolved.parents:
        raise DatasetError(
            f"{source}: {path} resolves to {resolved}, outside {base} (expected files inside "
            "the folder; a symlink that leads out of it is not followed)"
        )
    return Path(path)


def _entry_error(path: Path, piece: str, what: str) -> DatasetError:
    return DatasetError(
        f"{path}: piece {piece!r}: {what} (expected the manifest written by synthesize_audios.py)"
    )


def _check_piece(path: Path, piece: str, entry: Any) -> None:
    """A piece's entry: an object whose ``seconds``, ``midi`` and ``split`` have the right types."""
    check_name(path, "piece", piece)
    if not isinstance(entry, dict):
        raise _entry_error(path, piece, f"entry {entry!r:.40} is not an object")
    seconds = entry.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise _entry_error(path, piece, f"seconds={seconds!r:.40} is not a duration")
    midi = entry.get("midi")
    if midi is not None and (
        not isinstance(midi, str) or not midi.lower().endswith(MIDI_SUFFIXES) or "\0" in midi
    ):
        raise _entry_error(path, piece, f"midi={midi!r:.60} does not name a .mid/.midi file")
    if entry.get("split") is not None and not isinstance(entry["split"], str):
        raise _entry_error(path, piece, f"split={entry['split']!r:.40} is not a split name")


def _check_split(path: Path, split: Any) -> None:
    if split is None:
        return
    if not isinstance(split, dict) or not all(
        isinstance(members, list) and all(isinstance(p, str) for p in members)
        for members in split.values()
    ):
        raise DatasetError(
            f"{path}: 'split' is not an object of piece lists (expected "
            '{"train": [...], "val": [...], "test": [...]})'
        )


def read(audios_path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``<audios>/manifest.json`` (pieces and instruments present, names contained,
    every entry of the right type).

    Raises:
        DatasetError: missing or invalid file, no pieces or instruments, an escaping name,
            an entry of the wrong type (names the file and the entry).
    """
    path = manifest_path(audios_path)
    data = read_json(path)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("pieces"), dict)
        or not isinstance(data.get("instruments"), list)
    ):
        raise DatasetError(
            f"{path}: no 'pieces' and 'instruments' "
            "(expected the manifest written by synthesize_audios.py)"
        )
    for name in data["instruments"]:
        check_name(path, "instrument", name)
    for name, entry in data["pieces"].items():
        _check_piece(path, name, entry)
    _check_split(path, data.get("split"))
    return data


def read_previous(audios_path: str | os.PathLike) -> dict[str, Any] | None:
    """An earlier run's manifest as it stands (entries unchecked), or ``None`` when there is none.

    Raises:
        DatasetError: the file is not valid JSON or not a JSON object.
    """
    path = manifest_path(audios_path)
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise DatasetError(
            f"{path}: not a manifest (a JSON {type(data).__name__}, expected an object written "
            "by synthesize_audios.py); choose another --audios_path or delete that file"
        )
    return data


def write(
    audios_path: str | os.PathLike,
    header: dict[str, Any],
    pieces: dict[str, dict[str, Any]],
    split: dict[str, list[str]],
    failed: dict[str, str],
) -> Path:
    """Write the manifest atomically: ``header`` keys, then pieces, split and failures."""
    path = manifest_path(audios_path)
    write_json(
        path, {"version": VERSION, **header, "pieces": pieces, "split": split, "failed": failed}
    )
    return path


def split_of(data: dict[str, Any], source: str | os.PathLike) -> tuple[dict[str, str], bool]:
    """Piece -> split name (pieces without one are ``"train"``), and whether any split was given.

    Raises:
        DatasetError: a piece in two splits, an unknown split name.
    """
    pieces = data["pieces"]
    _check_split(Path(source), data.get("split"))
    given: dict[str, str] = {}
    for name, members in (data.get("split") or {}).items():
        for piece in members:
            if piece in given and given[piece] != name:
                raise DatasetError(
                    f"{source}: piece '{piece}' is in splits '{given[piece]}' and '{name}' "
                    "(expected each piece in one split)"
                )
            given[piece] = name
    for piece, entry in pieces.items():
        if isinstance(entry, dict) and entry.get("split") and piece not in given:
            given[piece] = entry["split"]
    unknown = sorted({s for s in given.values() if s not in SPLITS})
    if unknown:
        raise DatasetError(
            f"{source}: unknown split names {unknown} (expected {', '.join(SPLITS)})"
        )
    return {piece: given.get(piece, "train") for piece in pieces}, bool(given)


def split_pieces(names: Sequence[str], seed: int) -> dict[str, list[str]]:
    """Seeded train/val/test split of piece names: 80/10/10 %.

    From 3 pieces on, val and test get at least one piece each. The result depends on the set of
    names and the seed, not on their order.
    """
    names = sorted(names)
    n = len(names)
    n_held = max(1, int(round(0.1 * n))) if n >= 3 else 0
    order = np.random.default_rng(seed).permutation(n)
    parts = {
        "test": order[:n_held],
        "val": order[n_held : 2 * n_held],
        "train": order[2 * n_held :],
    }
    return {part: sorted(names[i] for i in parts[part]) for part in SPLITS}


def from_folders(audios_path: str | os.PathLike, seed: int = 0) -> dict[str, Any]:
    """The manifest of an audio folder without one: your own aligned recordings.

    ``<audios>/<instrument>/<piece>.wav``: every sub-folder holding ``.wav`` files is an
    instrument, and a piece is a file name found in every instrument folder (the recordings of
    a piece must be aligned sample for sample; :mod:`timbre.data.features` checks their lengths).
    The pieces are split by :func:`split_pieces` with ``seed``, and the result records that the
    split was made here (``"split_made"``). Adding pieces later can move others to another split.

    Warns (and leaves out): files other than ``<instrument>/<piece>.wav`` (hidden ones aside; a
    sub-folder without ``.wav`` files is no instrument), pieces missing from some instrument
    folder.

    Returns:
        What :func:`read` returns for a manifest: ``version``, ``instruments``, ``pieces`` (each
        ``{"split": name}``), ``split``, and ``"split_made": {"rule", "seed"}``.

    Raises:
        ConfigError: ``seed`` is not a non-negative integer.
        DatasetError: no instrument folder, a folder or file name that is not a plain file name,
            instrument folders that share no piece name.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    folder = Path(audios_path)
    found, ignored = _wav_folders(folder)
    if not found:
        raise DatasetError(
            f"{folder}: no {MANIFEST} and no instrument folders of .wav files (expected the "
            "output of synthesize_audios.py, or <instrument>/<piece>.wav recordings)"
        )
    common = set.intersection(*found.values())
    partial = sorted(set.union(*found.values()) - common)  # pieces missing from some folder
    if not common:
        raise DatasetError(
            f"{folder}: the instrument folders {', '.join(found)} share no piece name (expected "
            "the same <piece>.wav in each: the recordings of a piece are paired by file name)"
        )
    _warn_left_out(folder, ignored, {p: [n for n in found if p not in found[n]] for p in partial})
    split = split_pieces(common, seed)
    return {
        "version": VERSION,
        "instruments": list(found),
        "pieces": {piece: {"split": name} for name in SPLITS for piece in split[name]},
        "split": split,
        "split_made": {
            "rule": "80/10/10 % by piece",
            "seed": seed,
        },
    }


def _wav_folders(folder: Path) -> tuple[dict[str, set[str]], list[str]]:
    """{instrument: its piece names} of the sub-folders holding .wav files, and the other files
    (as ``instrument/name``), sorted; hidden entries are skipped."""
    found: dict[str, set[str]] = {}
    ignored: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ignored.append(entry.name)
            continue
        check_name(folder, "instrument", entry.name)
        pieces = set()
        for path in sorted(entry.iterdir()):
            if path.name.startswith("."):
                continue
            if path.suffix == ".wav" and path.is_file():
                check_name(entry, "piece", path.stem)
                pieces.add(path.stem)
            else:
                ignored.append(f"{entry.name}/{path.name}")
        if pieces:
            found[entry.name] = pieces
    return found, ignored


def _warn_left_out(folder: Path, ignored: list[str], partial: dict[str, list[str]]) -> None:
    """One warning for the files :func:`from_folders` ignores, one for the pieces it leaves out
    (``partial``: piece -> the instrument folders without it)."""

    def listed(items: list[str]) -> str:
        return "; ".join(items[:5]) + ("; ..." if len(items) > 5 else "")

    if ignored:
        warnings.warn(
            f"{folder}: ignored {len(ignored)} file(s) that are not <instrument>/<piece>.wav: "
            f"{listed(ignored)}",
            stacklevel=3,
        )
    if partial:
        missing = [f"{piece} (not in {', '.join(names)})" for piece, names in partial.items()]
        warnings.warn(
            f"{folder}: left out {len(partial)} piece(s) missing from some instrument folder: "
            f"{listed(missing)}",
            stacklevel=3,
        )
