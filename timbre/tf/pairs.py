"""Tile store -> ``tf.data`` pipeline of (origin, target) training pairs.

A pair is tile ``i`` of the origin instrument and tile ``i`` of the target
instrument of one piece (the same frames, see ``timbre.data.features``). Pairs come
only from the pieces of the requested split, so validation and test tiles
never share a piece with training tiles. Unless ``keep_silent`` (argument or
the features' ``FeatureConfig.keep_silent``), a pair whose origin and target
tiles both peak below ``FeatureConfig.silence_db`` is left out.

Reading is lazy and bounded: the pipeline shuffles pair *numbers* (a true
permutation of all of them per pass, drawn from ``seed`` and the pass number
alone), batches them, and reads each batch's tiles with ``os.pread`` from the
``.npy`` files. Plain reads rather than memory maps: pages of a map count as
resident memory once touched, so iterating over a large store through maps
would grow the process's memory with the store; read pages stay in the OS page
cache instead. Peak memory is a few batches plus 8 bytes per pair for the
order of the pair numbers (8 MB for a million pairs, i.e. 128 GB of 256 x 256
tiles per instrument).

The batches are a pure function of ``seed``: every pass of a repeating
dataset has its own order, and iterating a dataset again yields the same
batches from the start. The seed may be a tensor (e.g. made from the epoch
number inside ``Dataset.flat_map``), so one dataset can chain epochs that
each have their own seed (:func:`timbre.tf.pipeline.train_data`).

Augmentation (default on for ``"train"``): a random time shift of the tile
window. For tile ``i`` with start frame ``s_i``, the sample is the
``tile_frames``-wide window starting at a uniformly drawn frame in
``[s_a, s_{a+1}]`` with ``a = min(i, n_tiles - 2)``, cut from tiles ``a`` and
``a + 1`` (neighbours are contiguous or overlapping, so the window is real
audio, never padding). Origin and target get the same shift, so the pair stays
aligned. Shifts are drawn from ``seed`` and the batch number: deterministic.
A piece with a single tile is never shifted.

The pipeline runs with tf.data's autotuning off (:data:`STEADY`). With it on,
about half of Keras's ``fit`` calls ran the compiled step on one of two cores
(``bench/bench_train.py``: 25 against 45 samples/s for the demo model, decided
afresh per ``fit`` call, i.e. per epoch); off, every call used both. The map
and prefetch keep ``AUTOTUNE`` as their size, which without the autotuner
means one reader per core and a fixed buffer: reading is ~50x faster than a
step, so nothing waits on it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from timbre.errors import ConfigError, DatasetError
from timbre.formats import feature_store
from timbre.formats.feature_store import FeatureManifest, load_manifest, tile_file_layout
from timbre.settings import SpectrogramConfig

__all__ = [
    "STEADY",
    "PairSet",
    "open_pairs",
    "pair_dataset",
    "make_dataset",
    "count_pairs",
    "split_by_fraction",
]


def _steady_options() -> tf.data.Options:
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


STEADY = _steady_options()  # the training pipeline's tf.data options (module docstring)


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


def _select(
    manifest: FeatureManifest,
    origin: str,
    target: str,
    split: str | Sequence[str],
    keep_silent: bool,
    spectrogram: SpectrogramConfig | None = None,
) -> tuple[list[str], np.ndarray]:
    """The pieces of ``split`` and their (piece, tile) pairs; manifest only, no tile reads."""
    manifest.check_spectrogram(spectrogram)
    manifest.check_instrument("origin", origin)
    manifest.check_instrument("target", target)
    pieces = manifest.select(split)
    pairs = _pairs(manifest, pieces, origin, target, keep_silent)
    if len(pairs) == 0:
        n_tiles = sum(manifest.pieces[p]["n_tiles"] for p in pieces)
        raise DatasetError(
            f"split {split!r}: all {n_tiles} tile pairs of {origin}/{target} are near silence "
            f"(below {manifest.features.silence_db} dB); pass keep_silent=True or lower silence_db"
        )
    return pieces, pairs


def _manifest(source: FeatureManifest | str | os.PathLike) -> FeatureManifest:
    return source if isinstance(source, FeatureManifest) else load_manifest(source)


def count_pairs(
    source: FeatureManifest | str | os.PathLike,
    origin: str,
    target: str,
    split: str | Sequence[str],
    keep_silent: bool = False,
) -> int:
    """Number of (origin, target) pairs a pass yields (manifest only, no tile reads).

    Args:
        source: an opened :class:`~timbre.formats.feature_store.FeatureManifest` or a folder.

    Raises:
        The errors of :func:`open_pairs` that the manifest alone can show.
    """
    return len(_select(_manifest(source), origin, target, split, keep_silent)[1])


class _PairReader:
    """Reads batches of aligned (origin, target) tiles, or shifted windows of them, from files."""

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
                    f"{feature_store.manifest_path(manifest.path)}: piece '{piece}' has "
                    f"{entry['n_tiles']} tiles but n_frames={entry.get('n_frames')} "
                    f"gives {len(starts)}"
                )

    def _layout(self, manifest: FeatureManifest, instrument: str, piece: str) -> tuple[Path, int]:
        path = manifest.tile_path(instrument, piece)
        offset, shape = tile_file_layout(path)
        expected = (manifest.pieces[piece]["n_tiles"], self.n_bins, self.frames)
        if shape != expected:
            raise DatasetError(
                f"{path}: tiles of shape {shape} "
                f"(expected {expected} from {feature_store.manifest_path(manifest.path)})"
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
        """Tiles of ``pairs`` ((n, 2): piece number, tile), float16 (n, bins, frames).

        ``shifts``: one window shift in [0, 1) per pair, or None for the tiles as stored.
        """
        origin = np.empty((len(pairs), self.n_bins, self.frames), np.float16)
        target = np.empty_like(origin)
        for k, (piece, tile) in enumerate(pairs):
            shift = None if shifts is None else float(shifts[k])
            self._window(
                self.files[piece], self.starts[piece], int(tile), shift, (origin[k], target[k])
            )
        return origin, target


@dataclasses.dataclass(frozen=True)
class PairSet:
    """The (origin, target) pairs of one split, opened once: pass it to :func:`pair_dataset`.

    Building it reads the manifest's entries and every tile file's header (so a
    missing or truncated file is reported before training starts); iterating a
    dataset made from it reads only tile data.
    """

    manifest: FeatureManifest
    split: str | list[str]  # the split name, or the explicit list of pieces
    pieces: list[str]
    pairs: np.ndarray  # (n_pairs, 2) int64: piece number in ``pieces``, tile number
    reader: _PairReader

    def __len__(self) -> int:
        return len(self.pairs)


def open_pairs(
    source: FeatureManifest | str | os.PathLike,
    origin: str,
    target: str,
    split: str | Sequence[str],
    *,
    spectrogram: SpectrogramConfig | None = None,
    keep_silent: bool = False,
) -> PairSet:
    """Open the (origin, target) pairs of ``split`` once.

    Args:
        source: an opened :class:`~timbre.formats.feature_store.FeatureManifest` or a folder.
        origin: input instrument, e.g. ``"keyboard_acoustic"``.
        target: output instrument.
        split: ``"train"``, ``"val"`` or ``"test"``, or an explicit list of
            pieces (e.g. from :func:`split_by_fraction`).
        spectrogram: the settings the caller expects; a mismatch raises.
        keep_silent: keep pairs whose origin and target are both near silence.

    Raises:
        ConfigError: unknown split name, or spectrogram settings differing
            from ``spectrogram`` (names the fields).
        DatasetError: missing/corrupt manifest, instrument not in the features
            (lists the available ones), a split with no pieces, all pairs
            silent, a missing, corrupt or truncated tile file (names it).
    """
    manifest = _manifest(source)
    pieces, pairs = _select(manifest, origin, target, split, keep_silent, spectrogram)
    reader = _PairReader(manifest, pieces, origin, target)
    chosen = split if isinstance(split, str) else list(split)
    return PairSet(manifest, chosen, pieces, pairs, reader)


def pair_dataset(
    pairs: PairSet,
    batch_size: int,
    *,
    shuffle: bool = True,
    augment: bool | None = None,
    seed: int | tf.Tensor = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of (origin, target) tile batches from an opened :class:`PairSet`.

    Args:
        pairs: from :func:`open_pairs`; reused across epochs (nothing is re-read).
        batch_size: pairs per batch.
        shuffle: a seeded permutation of the pairs, a new one for every pass of a repeat; the
            same order every time the dataset is iterated.
        augment: random time shift of the tile window (module docstring);
            ``None``: on for the ``"train"`` split, off otherwise.
        seed: non-negative, an int or a scalar integer tensor; seeds the order and the shifts.
        repeat: repeat forever (each pass in its own order).
        drop_remainder: drop the last, smaller batch of a pass.

    Returns:
        Dataset of ``(origin, target)``, each float32 of shape
        (batch, n_bins, tile_frames, 1), values in [-1, 1]; prefetched.

    Raises:
        ConfigError: bad ``batch_size`` or ``seed``.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
    if not tf.is_tensor(seed) and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    augment = (pairs.split == "train") if augment is None else augment
    spec = pairs.manifest.spectrogram
    shape = (spec.n_bins, spec.tile_frames)
    reader, numbered = pairs.reader, pairs.pairs
    seed = tf.cast(seed, tf.int64)

    def read(
        seed: np.ndarray, batch_number: np.ndarray, numbers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        shifts = (
            np.random.default_rng([int(seed), int(batch_number)]).random(len(numbers))
            if augment
            else None
        )
        return reader.batch(numbered[numbers], shifts)

    def load(batch_number: tf.Tensor, numbers: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        tiles = tf.numpy_function(
            read, [seed, batch_number, numbers], (tf.float16, tf.float16), stateful=False
        )
        return tuple(
            tf.ensure_shape(tf.cast(t, tf.float32)[..., None], (None, *shape, 1)) for t in tiles
        )

    passes = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    dataset = passes.flat_map(lambda number: _pass_order(len(numbered), shuffle, seed, number))
    known = tf.data.INFINITE_CARDINALITY if repeat else len(numbered)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(known))  # so len() works
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).enumerate()
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(STEADY)


def _pass_order(n_pairs: int, shuffle: bool, seed: tf.Tensor, number: tf.Tensor) -> tf.data.Dataset:
    """The pair numbers of pass ``number``: in order, or permuted by ``seed`` and ``number``.

    The trailing 1 of the generator's seed keeps the order's random stream apart from the
    shifts' (``[seed, batch number]``).
    """
    if not shuffle:
        return tf.data.Dataset.range(n_pairs)

    def permutation(seed: np.ndarray, number: np.ndarray) -> np.ndarray:
        return (
            np.random.default_rng([int(seed), int(number), 1]).permutation(n_pairs).astype(np.int64)
        )

    order = tf.numpy_function(permutation, [seed, number], tf.int64, stateful=False)
    return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(order, (n_pairs,)))


def make_dataset(
    source: FeatureManifest | str | os.PathLike,
    origin: str,
    target: str,
    split: str | Sequence[str],
    batch_size: int,
    *,
    spectrogram: SpectrogramConfig | None = None,
    keep_silent: bool = False,
    **options: Any,
) -> tf.data.Dataset:
    """:func:`open_pairs` then :func:`pair_dataset` (``options``: its keyword arguments).

    For one-off use; a training loop opens the pairs once and calls
    :func:`pair_dataset` for every epoch. Raises the errors of both.
    """
    pairs = open_pairs(
        source, origin, target, split, spectrogram=spectrogram, keep_silent=keep_silent
    )
    return pair_dataset(pairs, batch_size, **options)
