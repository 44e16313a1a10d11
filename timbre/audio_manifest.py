"""The paired-audio folder's layout and its ``manifest.json``, in one place (TensorFlow-free).

Written by :mod:`timbre.synthesis.render`, read by :mod:`timbre.features` and
the demo::

    <audios>/<instrument>/<piece>.wav
    <audios>/manifest.json   (version 1)
        {"version": 1, "synth": SynthConfig, "note_bank": {"source", "path", "programs"|"presets"},
         "sample_rate": 44100, "instruments": [...],
         "pieces": {"<piece>": {"midi": path, "seconds": s, "split": "train"|"val"|"test"}},
         "split": {"train": [...], "val": [...], "test": [...]}, "failed": {"<midi path>": reason}}

Piece and instrument names become file names, so a manifest whose names would
leave the folder (``..``, an absolute path, a path separator) is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from timbre.errors import DatasetError
from timbre.fileio import read_json, write_json

MANIFEST = "manifest.json"
VERSION = 1
SPLITS = ("train", "val", "test")  # split names, by piece (the feature store keeps the same)


def manifest_path(audios_path: str | os.PathLike) -> Path:
    return Path(audios_path) / MANIFEST


def wav_path(audios_path: str | os.PathLike, instrument: str, piece: str) -> Path:
    """``<audios>/<instrument>/<piece>.wav``."""
    return Path(audios_path) / instrument / f"{piece}.wav"


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


def read(audios_path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``<audios>/manifest.json`` (pieces and instruments present, names contained).

    Raises:
        DatasetError: missing or invalid file, no pieces or instruments, an escaping name.
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
    for name in data["pieces"]:
        check_name(path, "piece", name)
    return data


def read_previous(audios_path: str | os.PathLike) -> dict[str, Any] | None:
    """An earlier run's manifest as it stands (unchecked), or ``None`` when there is none."""
    path = manifest_path(audios_path)
    return read_json(path) if path.is_file() else None


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
