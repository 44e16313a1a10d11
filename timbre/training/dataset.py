"""Tile store -> ``tf.data`` pipeline of (origin, target) training pairs.

A pair is tile ``i`` of the origin instrument and tile ``i`` of the target
instrument of one piece (the same frames, see ``timbre.features``). Pairs come
only from the pieces of the requested split, so validation and test tiles
never share a piece with training tiles. Unless ``keep_silent`` (argument or
the features' ``FeatureConfig.keep_silent``), a pair whose origin and target
tiles both peak below ``FeatureConfig.silence_db`` is left out.

Reading is lazy and bounded: the pipeline shuffles pair *numbers* (a seeded
``tf.data`` shuffle over all of them, a true permutation, new on every
iteration), batches them, and reads each batch's tiles with ``os.pread`` from
the ``.npy`` files. Plain reads rather than memory maps: pages of a map count
as resident memory once touched, so iterating over a large store through maps
would grow the process's memory with the store; read pages stay in the OS
page cache instead. Peak memory is a few batches plus about 200 bytes per pair
for the shuffle buffer of pair numbers (measured: ~190 MB and ~1.3 s to fill
for a million pairs, i.e. 128 GB of 256 x 256 tiles per instrument).

Augmentation (default on for ``"train"``): a random time shift of the tile
window. For tile ``i`` with start frame ``s_i``, the sample is the
``tile_frames``-wide window starting at a uniformly drawn frame in
``[s_a, s_{a+1}]`` with ``a = min(i, n_tiles - 2)``, cut from tiles ``a`` and
``a + 1`` (neighbours are contiguous or overlapping, so the window is real
audio, never padding). Origin and target get the same shift, so the pair stays
aligned. Shifts are drawn from ``seed`` and the batch number: deterministic.
A piece with a single tile is never shifted.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from timbre import spectrogram as sp
from timbre.config import FeatureConfig, SpectrogramConfig
from timbre.errors import ConfigError, DatasetError
from timbre.features import MANIFEST, SPLITS, VERSION, settings_diff, tile_file_layout, tile_path
from timbre.fileio import read_json

__all__ = ["FeatureManifest", "load_manifest", "make_dataset", "count_pairs", "split_by_fraction"]


@dataclasses.dataclass(frozen=True)
class FeatureManifest:
    """``<features>/manifest.json``, checked (see :func:`load_manifest`)."""

    path: Path  # the features folder
    spectrogram: SpectrogramConfig  # settings the tiles were made with
    features: FeatureConfig  # overlap and silence settings
    instruments: tuple[str, ...]
    pieces: dict[
        str, dict[str, Any]
    ]  # piece -> {"n_tiles", "split", "seconds", "n_frames", "peak_db"}
    split: dict[str, list[str]]  # split name -> pieces
    audios_path: Path | None  # the audio folder the tiles came from
    split_given: bool = True  # False: the audio had no split and every piece is in "train"

    def tile_path(self, instrument: str, piece: str) -> Path:
        return tile_path(self.path, instrument, piece)

    def tile_starts(self, piece: str) -> np.ndarray:
        """First frame of each tile of ``piece`` (from ``n_frames``; without it, regular steps)."""
        entry, frames = self.pieces[piece], self.spectrogram.tile_frames
        n_frames = (
            entry.get("n_frames")
            or (entry["n_tiles"] - 1) * (frames - self.features.overlap) + frames
        )
        return sp.tile_starts(int(n_frames), frames, self.features.overlap)


def _manifest_error(path: Path, what: str) -> DatasetError:
    return DatasetError(
        f"{path}: {what} (expected a features manifest written by compute_features.py)"
    )


def _check_pieces(path: Path, pieces: dict[str, Any], split: dict[str, list[str]]) -> None:
    """Every piece has a tile count; every split member is a piece, in one split only."""
    owner: dict[str, str] = {}
    for piece, entry in pieces.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("n_tiles"), int):
            raise _manifest_error(path, f"piece '{piece}' has no tile count 'n_tiles'")
    for name, members in split.items():
        for piece in members:
            if piece not in pieces:
                raise _manifest_error(path, f"split '{name}' names unknown piece '{piece}'")
            if piece in owner:
                raise _manifest_error(
                    path, f"piece '{piece}' is in splits '{owner[piece]}' and '{name}'"
                )
            owner[piece] = name


def load_manifest(features_path: str | os.PathLike) -> FeatureManifest:
    """Read and check ``<features_path>/manifest.json``.

    ``features``, ``audios_path`` and per-piece ``n_frames``/``peak_db`` are
    optional (hand-written stores work); ``spectrogram``, ``instruments``,
    ``pieces`` (each with ``n_tiles``) and ``split`` are required.

    Warns when the manifest comes from a run that has not finished.

    Raises:
        DatasetError: missing folder or manifest, invalid JSON, missing keys,
            a piece in two splits or a split naming an unknown piece (names the file).
        ConfigError: invalid settings in the manifest.
    """
    folder = Path(features_path)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: features folder not found (expected the output of compute_features.py)"
        )
    path = folder / MANIFEST
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version", VERSION) != VERSION:
        raise _manifest_error(
            path, f"version {data.get('version') if isinstance(data, dict) else None}"
        )
    missing = [key for key in ("spectrogram", "instruments", "pieces", "split") if key not in data]
    if missing:
        raise _manifest_error(path, f"missing keys {missing}")
    _check_pieces(path, data["pieces"], data["split"])
    pieces = data["pieces"]
    if data.get("complete") is False:
        warnings.warn(
            f"{path}: the feature run has not finished ({len(pieces)} pieces so far); "
            f"rerun compute_features.py to complete it",
            stacklevel=2,
        )
    audios = data.get("audios_path")
    return FeatureManifest(
        folder,
        SpectrogramConfig.from_dict(data["spectrogram"], source=str(path)),
        FeatureConfig.from_dict(data.get("features") or {}, source=str(path)),
        tuple(data["instruments"]),
        pieces,
        {k: list(v) for k, v in data["split"].items()},
        Path(audios) if audios else None,
        bool(data.get("split_given", True)),
    )


def split_by_fraction(
    pieces: Sequence[str], val_fraction: float, seed: int = 0
) -> dict[str, list[str]]:
    """Split pieces (never tiles) into ``{"train": [...], "val": [...]}``, seeded.

    For features made from audio without a split (``FeatureManifest.split_given``
    is False, everything in ``"train"``): pass the lists to :func:`make_dataset`
    as ``split``. At least one piece goes to each side.

    Args:
        pieces: piece names (order does not matter; the result is sorted).
        val_fraction: share of pieces for validation, in (0, 1).
        seed: the split for a given seed and set of pieces is always the same.

    Raises:
        ConfigError: ``val_fraction`` outside (0, 1) or fewer than 2 pieces.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction={val_fraction} must lie in (0, 1)")
    names = sorted(set(pieces))
    if len(names) < 2:
        raise ConfigError(
            f"pieces: {len(names)} piece(s) (expected at least 2 to split into train and val)"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = min(max(1, round(val_fraction * len(names))), len(names) - 1)
    val = {names[i] for i in order[:n_val]}
    return {"train": [p for p in names if p not in val], "val": sorted(val)}


def _check_spectrogram(manifest: FeatureManifest, expected: SpectrogramConfig | None) -> None:
    if expected is None or expected == manifest.spectrogram:
        return
    diff = settings_diff(manifest.spectrogram.to_dict(), expected.to_dict())
    raise ConfigError(
        f"{manifest.path}: features made with other spectrogram settings: {diff} "
        f"(expected identical settings); recompute the features or use the features' settings"
    )


def _check_instrument(manifest: FeatureManifest, role: str, name: str) -> None:
    if name in manifest.instruments:
        return
    close = difflib.get_close_matches(name, manifest.instruments, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise DatasetError(
        f"{role} instrument '{name}' is not in the features at {manifest.path} "
        f"(available: {', '.join(manifest.instruments) or 'none'}){hint}"
    )


def _select_pieces(manifest: FeatureManifest, split: str | Sequence[str]) -> list[str]:
    if not isinstance(split, str):
        unknown = [p for p in split if p not in manifest.pieces]
        if unknown:
            raise DatasetError(f"pieces {unknown[:5]} are not in the features at {manifest.path}")
        if not split:
            raise DatasetError("split: an empty list of pieces (expected at least one piece)")
        return list(dict.fromkeys(split))
    if split not in manifest.split and split not in SPLITS:
        raise ConfigError(
            f"split '{split}' (expected one of "
            f"{', '.join(sorted(set(SPLITS) | set(manifest.split)))})"
        )
    pieces = manifest.split.get(split, [])
    if not pieces:
        counts = ", ".join(f"{name} {len(members)}" for name, members in manifest.split.items())
        hint = "" if manifest.split_given else "; the audio had no split: use split_by_fraction"
        raise DatasetError(
            f"split '{split}' has 0 pieces ({len(manifest.pieces)} pieces in total: {counts}){hint}"
        )
    return list(pieces)


def _pairs(
    manifest: FeatureManifest, pieces: list[str], origin: str, target: str, keep_silent: bool
) -> np.ndarray:
    """(n_pairs, 2) int64 array of (piece number in ``pieces``, tile number)."""
    keep_all = keep_silent or manifest.features.keep_silent
    threshold = manifest.features.silence_db
    rows = []
    for number, piece in enumerate(pieces):
        entry = manifest.pieces[piece]
        n_tiles = entry["n_tiles"]
        keep = np.ones(n_tiles, dtype=bool)
        peaks = entry.get("peak_db") or {}
        if (
            not keep_all
            and len(peaks.get(origin, ())) == n_tiles
            and len(peaks.get(target, ())) == n_tiles
        ):
            keep = (np.asarray(peaks[origin]) >= threshold) | (
                np.asarray(peaks[target]) >= threshold
            )
        tiles = np.flatnonzero(keep)
        rows.append(np.stack([np.full(len(tiles), number), tiles], axis=1))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)


def _prepare(
    features_path,
    origin: str,
    target: str,
    split,
    keep_silent: bool,
    spectrogram: SpectrogramConfig | None = None,
) -> tuple[FeatureManifest, list[str], np.ndarray]:
    manifest = load_manifest(features_path)
    _check_spectrogram(manifest, spectrogram)
    _check_instrument(manifest, "origin", origin)
    _check_instrument(manifest, "target", target)
    pieces = _select_pieces(manifest, split)
    pairs = _pairs(manifest, pieces, origin, target, keep_silent)
    if len(pairs) == 0:
        n_tiles = sum(manifest.pieces[p]["n_tiles"] for p in pieces)
        raise DatasetError(
            f"split {split!r}: all {n_tiles} tile pairs of {origin}/{target} are near silence "
            f"(below {manifest.features.silence_db} dB); pass keep_silent=True or lower silence_db"
        )
    return manifest, pieces, pairs


def count_pairs(
    features_path: str | os.PathLike,
    origin: str,
    target: str,
    split: str | Sequence[str],
    keep_silent: bool = False,
) -> int:
    """Number of (origin, target) pairs :func:`make_dataset` yields per pass (manifest only, no tile reads).

    Raises:
        The errors of :func:`make_dataset` that the manifest alone can show.
    """
    return len(_prepare(features_path, origin, target, split, keep_silent)[2])


class _PairReader:
    """Reads batches of aligned (origin, target) tiles, or shifted windows of them, from the tile files."""

    def __init__(
        self, manifest: FeatureManifest, pieces: list[str], origin: str, target: str
    ) -> None:
        spec = manifest.spectrogram
        self.n_bins, self.frames = spec.n_bins, spec.tile_frames
        self.tile_bytes = spec.n_bins * spec.tile_frames * 2
        self.files: list[tuple[tuple[Path, int], tuple[Path, int]]] = []
        for piece in pieces:
            self.files.append(
                tuple(self._layout(manifest, name, piece) for name in (origin, target))
            )
        self.starts = [manifest.tile_starts(piece) for piece in pieces]
        for piece, starts in zip(pieces, self.starts):
            if len(starts) != manifest.pieces[piece]["n_tiles"]:
                entry = manifest.pieces[piece]
                raise DatasetError(
                    f"{manifest.path}/manifest.json: piece '{piece}' has {entry['n_tiles']} tiles "
                    f"but n_frames={entry.get('n_frames')} gives {len(starts)}"
                )

    def _layout(self, manifest: FeatureManifest, instrument: str, piece: str) -> tuple[Path, int]:
        path = manifest.tile_path(instrument, piece)
        offset, shape = tile_file_layout(path)
        expected = (manifest.pieces[piece]["n_tiles"], self.n_bins, self.frames)
        if shape != expected:
            raise DatasetError(
                f"{path}: tiles of shape {shape} "
                f"(expected {expected} from {manifest.path}/manifest.json)"
            )
        return path, offset

    def _read(self, path: Path, offset: int, first: int, count: int) -> np.ndarray:
        size = count * self.tile_bytes
        with open(path, "rb", buffering=0) as f:
            data = os.pread(f.fileno(), size, offset + first * self.tile_bytes)
        if len(data) != size:
            raise DatasetError(
                f"{path}: truncated tile file (tiles {first}..{first + count - 1} unreadable)"
            )
        return np.frombuffer(data, dtype=np.float16).reshape(count, self.n_bins, self.frames)

    def _window(
        self,
        files,
        starts: np.ndarray,
        tile: int,
        shift: float | None,
        out: tuple[np.ndarray, np.ndarray],
    ) -> None:
        if shift is None or len(starts) < 2:
            for (path, offset), dest in zip(files, out):
                dest[:] = self._read(path, offset, tile, 1)[0]
            return
        first = min(tile, len(starts) - 2)
        step = int(starts[first + 1] - starts[first])
        cut = min(int(shift * (step + 1)), step)  # window starts `cut` frames into tile `first`
        for (path, offset), dest in zip(files, out):
            two = self._read(path, offset, first, 2)
            dest[:, : self.frames - cut] = two[0][:, cut:]
            dest[:, self.frames - cut :] = two[1][:, self.frames - step : self.frames - step + cut]

    def batch(self, pairs: np.ndarray, shifts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Tiles of ``pairs`` ((n, 2): piece number, tile); ``shifts`` in [0, 1) or None. Float16 (n, bins, frames)."""
        origin = np.empty((len(pairs), self.n_bins, self.frames), np.float16)
        target = np.empty_like(origin)
        for k, (piece, tile) in enumerate(pairs):
            shift = None if shifts is None else float(shifts[k])
            self._window(
                self.files[piece], self.starts[piece], int(tile), shift, (origin[k], target[k])
            )
        return origin, target


def make_dataset(
    features_path: str | os.PathLike,
    origin: str,
    target: str,
    split: str | Sequence[str],
    batch_size: int,
    *,
    shuffle: bool = True,
    augment: bool | None = None,
    seed: int = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
    spectrogram: SpectrogramConfig | None = None,
    keep_silent: bool = False,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of (origin, target) tile batches.

    Args:
        features_path: folder written by ``compute_features.py``.
        origin: input instrument, e.g. ``"keyboard_acoustic"``.
        target: output instrument.
        split: ``"train"``, ``"val"`` or ``"test"``, or an explicit list of
            pieces (e.g. from :func:`split_by_fraction`).
        batch_size: pairs per batch.
        shuffle: seeded shuffle of the pairs, a new order on every iteration.
        augment: random time shift of the tile window (module docstring);
            ``None``: on for ``"train"``, off otherwise.
        seed: non-negative; seeds the shuffle and the shifts.
        repeat: repeat forever (each pass reshuffled).
        drop_remainder: drop the last, smaller batch of a pass.
        spectrogram: the settings the caller expects; a mismatch raises.
        keep_silent: keep pairs whose origin and target are both near silence.

    Returns:
        Dataset of ``(origin, target)``, each float32 of shape
        (batch, n_bins, tile_frames, 1), values in [-1, 1]; prefetched.

    Raises:
        ConfigError: bad ``batch_size``/``seed``, unknown split name, or
            spectrogram settings differing from ``spectrogram`` (names the fields).
        DatasetError: missing/corrupt manifest, instrument not in the features
            (lists the available ones), a split with no pieces, all pairs
            silent, a missing, corrupt or truncated tile file (names it).
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    manifest, pieces, pairs = _prepare(
        features_path, origin, target, split, keep_silent, spectrogram
    )
    reader = _PairReader(manifest, pieces, origin, target)
    augment = (split == "train") if augment is None else augment
    shape = (manifest.spectrogram.n_bins, manifest.spectrogram.tile_frames)

    def read(batch_number: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shifts = (
            np.random.default_rng([seed, int(batch_number)]).random(len(numbers))
            if augment
            else None
        )
        return reader.batch(pairs[numbers], shifts)

    def load(batch_number: tf.Tensor, numbers: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        tiles = tf.numpy_function(
            read, [batch_number, numbers], (tf.float16, tf.float16), stateful=False
        )
        return tuple(
            tf.ensure_shape(tf.cast(t, tf.float32)[..., None], (None, *shape, 1)) for t in tiles
        )

    dataset = tf.data.Dataset.range(len(pairs))
    if shuffle:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).enumerate()
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
