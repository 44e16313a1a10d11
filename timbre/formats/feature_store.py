"""The feature store's on-disk format, in one place (TensorFlow-free).

Layout under ``features_path``, written by :mod:`timbre.data.features` and read by
training, evaluation, the demo and the command line::

    <instrument>/<piece>.npy   float16 (n_tiles, n_bins, tile_frames), normalised log
                               magnitude in [-1, 1]
    manifest.json              {"version": 1, "spectrogram", "features", "audios_path",
                                "instruments", "split_given", "split_made", "pieces": {piece:
                                {"n_tiles", "n_frames", "split", "seconds", "peak_db":
                                {instrument: [...]}, "level_db": {instrument: dBFS}}},
                                "split": {"train": [...], "val": [...], "test": [...]},
                                "failed": {piece: reason}, "complete": bool}

``split_made`` is ``{"rule", "seed"}`` when compute_features.py split audio that
had no manifest (own recordings, :func:`timbre.formats.audio_folder.from_folders`),
else null (the split came from the audio manifest).

Tile ``i`` of every instrument of a piece covers the same frames. Piece and
instrument names become file names, so names that would leave the folder are
refused when the manifest is read, and a tile or audio file that resolves outside
its folder (a symlink out of it) is refused when its path is asked for. Every
entry is type-checked when read, and recorded tile peaks must be finite: a NaN
peak means non-finite tiles (:func:`nonfinite_tile_files` finds them).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from timbre.dsp import tiling
from timbre.errors import ConfigError, DatasetError
from timbre.formats.audio_folder import SPLITS, check_inside, check_name, piece_path
from timbre.io.atomic import read_json, write_json
from timbre.settings import FeatureConfig, SpectrogramConfig

__all__ = [
    "MANIFEST",
    "SPLITS",
    "VERSION",
    "FeatureManifest",
    "load_manifest",
    "read_previous",
    "write_manifest",
    "tile_path",
    "instrument_folder",
    "tile_file_layout",
    "nonfinite_tile_files",
    "settings_diff",
]

MANIFEST = "manifest.json"
VERSION = 1  # features manifest format


def manifest_path(features_path: str | os.PathLike) -> Path:
    return Path(features_path) / MANIFEST


def tile_path(
    features_path: str | os.PathLike,
    instrument: str,
    piece: str,
    source: str | os.PathLike | None = None,
) -> Path:
    """``<features>/<instrument>/<piece>.npy``, refused unless it stays inside ``features_path``.

    Every reader and writer of the store names its tile files here. ``source`` is what an
    error names (default: the store's manifest).

    Raises:
        DatasetError: a name that is not a plain file name (:func:`check_name`), or a path
            that resolves outside the store (a symlink; :func:`check_inside`).
    """
    source = manifest_path(features_path) if source is None else source
    check_name(source, "instrument", instrument)
    check_name(source, "piece", piece)
    return check_inside(features_path, _tile_file(features_path, instrument, piece), source)


def instrument_folder(features_path: str | os.PathLike, instrument: str) -> Path:
    """``<features>/<instrument>``; DatasetError if it resolves outside the store (a symlink)."""
    return check_inside(
        features_path, Path(features_path) / instrument, manifest_path(features_path)
    )


def _tile_file(features_path: str | os.PathLike, instrument: str, piece: str) -> Path:
    """The tile file's path as named, unchecked (for messages about names not yet checked)."""
    return Path(features_path) / instrument / f"{piece}.npy"


def settings_diff(have: dict[str, Any], want: dict[str, Any]) -> str:
    """``"n_bins=128 (requested 256), ..."`` for the keys of ``want`` whose values differ.

    Returns "" when none differ.
    """
    return ", ".join(
        f"{key}={have.get(key)} (requested {value})"
        for key, value in want.items()
        if have.get(key) != value
    )


@dataclasses.dataclass(frozen=True)
class FeatureManifest:
    """``<features>/manifest.json``, checked (see :func:`load_manifest`)."""

    path: Path  # the features folder
    spectrogram: SpectrogramConfig  # settings the tiles were made with
    features: FeatureConfig  # overlap and silence settings
    instruments: tuple[str, ...]
    pieces: dict[str, dict[str, Any]]  # piece -> {"n_tiles", "split", "seconds", "n_frames", ...}
    split: dict[str, list[str]]  # split name -> pieces
    audios_path: Path | None  # the audio folder the tiles came from
    split_given: bool = True  # False: the audio had no split and every piece is in "train"

    def tile_path(self, instrument: str, piece: str) -> Path:
        """``<features>/<instrument>/<piece>.npy``, refused if it resolves outside the store.

        Raises:
            DatasetError: a name that is not a plain file name, or a symlink that leads out
                of the features folder.
        """
        return tile_path(self.path, instrument, piece)

    def audio_path(self, instrument: str, piece: str) -> Path | None:
        """The WAV the tiles of ``piece`` were computed from (None when the store does not say).

        Raises:
            DatasetError: a symlink leads out of the audio folder.
        """
        if self.audios_path is None:
            return None
        return piece_path(self.audios_path, instrument, piece, manifest_path(self.path))

    def tile_starts(self, piece: str) -> np.ndarray:
        """First frame of each tile of ``piece`` (from ``n_frames``; without it, regular steps)."""
        entry, frames = self.pieces[piece], self.spectrogram.tile_frames
        n_frames = (
            entry.get("n_frames")
            or (entry["n_tiles"] - 1) * (frames - self.features.overlap) + frames
        )
        return tiling.tile_starts(int(n_frames), frames, self.features.overlap)

    def level_db(self, instrument: str, split: str | Sequence[str]) -> float | None:
        """Median active level (dBFS, :func:`timbre.dsp.level.active_level_db`) of ``instrument``
        over the pieces of ``split`` (a split name or a list of pieces) that record one;
        None when none does (stores written before levels were recorded).
        """
        pieces = self.split.get(split, []) if isinstance(split, str) else split
        levels = [
            level
            for piece in pieces
            if (level := (self.pieces.get(piece, {}).get("level_db") or {}).get(instrument))
            is not None
        ]
        return round(float(np.median(levels)), 2) if levels else None

    def check_spectrogram(self, expected: SpectrogramConfig | None) -> None:
        """Raise ConfigError when ``expected`` (if given) differs from the tiles' settings."""
        if expected is None or expected == self.spectrogram:
            return
        diff = settings_diff(self.spectrogram.to_dict(), expected.to_dict())
        raise ConfigError(
            f"{self.path}: features made with other spectrogram settings: {diff} "
            "(expected identical settings); recompute the features or use the features' settings"
        )

    def check_instrument(self, role: str, name: str) -> None:
        """Raise DatasetError (with the close match) when ``name`` is not in the store."""
        if name in self.instruments:
            return
        close = difflib.get_close_matches(name, self.instruments, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DatasetError(
            f"{role} instrument '{name}' is not in the features at {self.path} "
            f"(available: {', '.join(self.instruments) or 'none'}){hint}"
        )

    def select(self, split: str | Sequence[str]) -> list[str]:
        """The pieces of a split name, or an explicit list of pieces checked against the store.

        Raises:
            ConfigError: an unknown split name.
            DatasetError: unknown pieces, an empty list or an empty split.
        """
        if not isinstance(split, str):
            unknown = [p for p in split if p not in self.pieces]
            if unknown:
                raise DatasetError(f"pieces {unknown[:5]} are not in the features at {self.path}")
            if not split:
                raise DatasetError("split: an empty list of pieces (expected at least one piece)")
            return list(dict.fromkeys(split))
        if split not in self.split and split not in SPLITS:
            names = ", ".join(sorted(set(SPLITS) | set(self.split)))
            raise ConfigError(f"split '{split}' (expected one of {names})")
        pieces = self.split.get(split, [])
        if not pieces:
            hint = "" if self.split_given else "; the audio had no split: use split_by_fraction"
            raise DatasetError(
                f"split '{split}' has 0 pieces ({len(self.pieces)} pieces in total: "
                f"{self.split_counts()}){hint}"
            )
        return list(pieces)

    def split_counts(self) -> str:
        """``"train 12, val 2, test 2"``."""
        return ", ".join(f"{name} {len(self.split.get(name, []))}" for name in SPLITS)


def _manifest_error(path: Path, what: str) -> DatasetError:
    return DatasetError(
        f"{path}: {what} (expected a features manifest written by compute_features.py)"
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_entry(path: Path, piece: str, entry: Any) -> None:
    """One piece's entry: tile and frame counts, finite per-tile peaks, levels."""
    check_name(path, "piece", piece)
    if not isinstance(entry, dict) or not _count(entry.get("n_tiles")):
        raise _manifest_error(path, f"piece '{piece}' has no tile count 'n_tiles'")
    if entry.get("n_frames") is not None and not _count(entry["n_frames"]):
        raise _manifest_error(path, f"piece '{piece}': n_frames={entry['n_frames']!r:.40}")
    for key in ("peak_db", "level_db"):
        if entry.get(key) is not None and not isinstance(entry[key], dict):
            raise _manifest_error(path, f"piece '{piece}': {key} is not an object")
    for instrument, peaks in (entry.get("peak_db") or {}).items():
        if not isinstance(peaks, list) or not all(_number(p) for p in peaks):
            raise _manifest_error(path, f"piece '{piece}': peak_db of {instrument!r} is not a list")
        if not all(math.isfinite(p) for p in peaks):
            raise DatasetError(
                f"{path}: piece '{piece}': non-finite tile peaks of {instrument!r} (NaN or inf: "
                f"the tiles hold non-finite values); delete "
                f"{_tile_file(Path(path).parent, instrument, piece)} and rerun compute_features.py"
            )
    for instrument, level in (entry.get("level_db") or {}).items():
        if level is not None and not (_number(level) and math.isfinite(level)):
            raise _manifest_error(path, f"piece '{piece}': level_db of {instrument!r} is {level!r}")


def _check_pieces(path: Path, data: dict[str, Any]) -> None:
    """Names are contained; every piece has a tile count; every split member is a piece, once."""
    if not isinstance(data["instruments"], list):
        raise _manifest_error(path, "'instruments' is not a list")
    if not isinstance(data["pieces"], dict):
        raise _manifest_error(path, "'pieces' is not an object")
    if not isinstance(data["split"], dict) or not all(
        isinstance(members, list) for members in data["split"].values()
    ):
        raise _manifest_error(path, "'split' is not an object of piece lists")
    for name in data["instruments"]:
        check_name(path, "instrument", name)
    owner: dict[str, str] = {}
    for piece, entry in data["pieces"].items():
        _check_entry(path, piece, entry)
    for name, members in data["split"].items():
        for piece in members:
            if not isinstance(piece, str):
                raise _manifest_error(path, f"split '{name}' holds {piece!r:.40}, not a piece name")
            if piece not in data["pieces"]:
                raise _manifest_error(path, f"split '{name}' names unknown piece '{piece}'")
            if piece in owner:
                raise _manifest_error(
                    path, f"piece '{piece}' is in splits '{owner[piece]}' and '{name}'"
                )
            owner[piece] = name


def load_manifest(features_path: str | os.PathLike) -> FeatureManifest:
    """Read and check ``<features_path>/manifest.json``.

    ``features``, ``audios_path`` and per-piece ``n_frames``/``peak_db``/``level_db`` are
    optional (hand-written stores work); ``spectrogram``, ``instruments``,
    ``pieces`` (each with ``n_tiles``) and ``split`` are required.

    Warns when the manifest comes from a run that has not finished.

    Raises:
        DatasetError: missing folder or manifest, invalid JSON, missing keys,
            a piece in two splits, a split naming an unknown piece, or a
            piece or instrument name that would leave the folder (names the file).
        ConfigError: invalid settings in the manifest.
    """
    folder = Path(features_path)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: features folder not found (expected the output of compute_features.py)"
        )
    path = manifest_path(folder)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version", VERSION) != VERSION:
        raise _manifest_error(
            path, f"version {data.get('version') if isinstance(data, dict) else None}"
        )
    missing = [key for key in ("spectrogram", "instruments", "pieces", "split") if key not in data]
    if missing:
        raise _manifest_error(path, f"missing keys {missing}")
    _check_pieces(path, data)
    pieces = data["pieces"]
    audios = data.get("audios_path")
    if audios is not None and (not isinstance(audios, str) or "\0" in audios):
        raise _manifest_error(path, f"audios_path={audios!r:.60} is not a folder path")
    spectrogram, features = _settings(path, data)
    if data.get("complete") is False:
        warnings.warn(
            f"{path}: the feature run has not finished ({len(pieces)} pieces so far); "
            "rerun compute_features.py to complete it",
            stacklevel=2,
        )
    return FeatureManifest(
        folder,
        spectrogram,
        features,
        tuple(data["instruments"]),
        pieces,
        {k: list(v) for k, v in data["split"].items()},
        _audios_folder(folder, audios) if audios else None,
        bool(data.get("split_given", True)),
    )


def _settings(path: Path, data: dict[str, Any]) -> tuple[SpectrogramConfig, FeatureConfig]:
    """The manifest's spectrogram and feature settings, checked (ConfigError names the file)."""
    spectrogram, features = data["spectrogram"], data.get("features") or {}
    if not isinstance(spectrogram, dict) or not isinstance(features, dict):
        raise _manifest_error(path, "'spectrogram' and 'features' are not objects")
    try:
        return (
            SpectrogramConfig.from_dict(spectrogram, source=str(path)),
            FeatureConfig.from_dict(features, source=str(path)),
        )
    except (TypeError, ValueError, OverflowError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: unusable settings ({type(e).__name__}: {e})") from e


def _audios_folder(folder: Path, audios: str) -> Path:
    """The manifest's ``audios_path``, resolved (a relative one is relative to the store)."""
    return (folder / audios).resolve()


def read_previous(features_path: str | os.PathLike) -> dict[str, Any]:
    """An earlier feature run's manifest as it stands (unchecked, maybe incomplete), or {}."""
    path = manifest_path(features_path)
    return read_json(path) if path.exists() else {}


def write_manifest(
    features_path: str | os.PathLike,
    header: dict[str, Any],
    pieces: dict[str, dict[str, Any]],
    failed: dict[str, str],
    complete: bool,
) -> None:
    """Write the manifest atomically; the split lists are derived from each piece's ``split``."""
    pieces = {name: pieces[name] for name in sorted(pieces)}
    split = {name: [p for p in pieces if pieces[p]["split"] == name] for name in SPLITS}
    failed = {name: failed[name] for name in sorted(failed)}
    write_json(
        manifest_path(features_path),
        {
            "version": VERSION,
            **header,
            "pieces": pieces,
            "split": split,
            "failed": failed,
            "complete": complete,
        },
    )


def tile_file_layout(path: str | os.PathLike) -> tuple[int, tuple[int, ...]]:
    """Check a tile file's header and size without reading its data.

    Returns:
        ``(offset, shape)``: byte offset of the first tile and the array shape
        (n_tiles, n_bins, tile_frames).

    Raises:
        DatasetError: missing file, not an ``.npy`` file, not float16 3-D
            C-ordered tiles, or shorter than its header says (names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: tile file not found") from e
    except (ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: corrupt tile file, not a NumPy .npy array ({e})") from e
    if dtype != np.float16 or len(shape) != 3 or fortran_order:
        raise DatasetError(
            f"{path}: {dtype} array of shape {shape} "
            "(expected float16 tiles (n_tiles, n_bins, tile_frames))"
        )
    expected = offset + int(np.prod(shape)) * 2
    size = path.stat().st_size
    if size != expected:
        raise DatasetError(
            f"{path}: truncated or corrupt tile file "
            f"({size} bytes, expected {expected} for shape {shape})"
        )
    return offset, tuple(int(n) for n in shape)


def nonfinite_tile_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The tile files among ``paths`` that hold a NaN or an infinity (read in bounded chunks).

    Files that cannot be read are left out (their own errors name them elsewhere).
    """
    bad = []
    for path in dict.fromkeys(Path(p) for p in paths):
        try:
            offset, shape = tile_file_layout(path)
        except DatasetError:
            continue
        tiles = np.memmap(path, np.float16, "r", offset, shape) if np.prod(shape) else ()
        if any(not np.isfinite(tiles[i : i + 64]).all() for i in range(0, len(tiles), 64)):
            bad.append(path)
        del tiles
    return bad
