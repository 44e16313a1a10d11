"""Paired audio folders -> a tile store and its manifest (TensorFlow-free).

The layout written under ``features_path`` is :mod:`timbre.formats.feature_store`'s.
Tile ``i`` of every instrument of a piece covers the same frames: positions come
from :func:`timbre.dsp.tiling.tile_starts` with ``FeatureConfig.overlap`` and
no tile is ever dropped from a file. Each piece records, per instrument, the
peak of every tile in dB (full-scale sine = 0 dB, floor -200 dB) so the
training pipeline can drop pairs that are near silence on both sides without
opening the files, and the active level of the whole file
(:func:`timbre.dsp.level.active_level_db`, dBFS; ``None`` for silence), which
training turns into the level a model expects its input at.

The run is resumable and deterministic: files are written atomically, a file
that exists with the right layout is kept, and the manifest (rewritten every
:data:`MANIFEST_EVERY_S` seconds while the run goes, ``"complete": false``
until it ends) keeps the peaks of finished files. One run at a time writes a
features folder (:func:`timbre.io.atomic.run_lock`). Nothing is read or written
outside the two folders (a symlinked instrument folder or file that leads out
is refused), tiles are checked to be finite before they are written, and a
failed write (a full disk) stops the run with the file's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from timbre.data.piece_features import PieceJob, compute_piece, existing_peaks, warm_up
from timbre.errors import ConfigError, DatasetError, TimbreError
from timbre.formats import audio_folder, feature_store
from timbre.formats.feature_store import settings_diff
from timbre.io.atomic import naming_failures, remove_temporaries, run_lock
from timbre.io.pool import check_jobs, run_jobs
from timbre.settings import FeatureConfig, SpectrogramConfig

__all__ = ["FeatureSummary", "compute_features"]

MANIFEST_EVERY_S = 30.0  # seconds between manifest rewrites during a run


@dataclasses.dataclass(frozen=True)
class FeatureSummary:
    """What :func:`compute_features` did."""

    features_path: Path
    computed: list[str]  # pieces with at least one tile file computed in this run
    skipped: list[str]  # pieces whose tile files all existed already
    failed: dict[str, str]  # piece -> reason (not in the manifest's pieces)
    n_tiles: int  # tiles per instrument over all pieces of the manifest


# --- The audio side: which pieces, which instruments, which split.


def _choose_instruments(
    available: list[str], requested: Sequence[str] | None, source: Path
) -> list[str]:
    if requested is None:
        return list(available)
    for name in requested:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise DatasetError(
                f"unknown instrument '{name}' in {source}; choose from: "
                f"{', '.join(available)}{hint}"
            )
    if len(set(requested)) != len(requested):
        raise ConfigError(f"instruments: {list(requested)} lists an instrument twice")
    return list(requested)


def _run_jobs(jobs: list[PieceJob], n_workers: int, progress: bool):
    """Yield the results of :func:`~timbre.data.piece_features.compute_piece`, as they finish."""
    return run_jobs(
        compute_piece,
        jobs,
        jobs=n_workers,
        desc="features",
        progress=progress,
        broken=lambda done, e: DatasetError(
            f"a feature worker died ({e}); try fewer --jobs (memory?)"
        ),
        before_fork=lambda: warm_up(jobs[0].spectrogram),
    )


# --- The run.


class _Manifest:
    """The manifest being built; written atomically now and then."""

    def __init__(
        self,
        features_path: Path,
        header: dict[str, Any],
        split: dict[str, str],
        seconds: dict[str, float],
    ) -> None:
        self.features_path = features_path
        self.header, self.split, self.seconds = header, split, seconds
        self.pieces: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, str] = {}
        self.written = 0.0

    def add(
        self,
        piece: str,
        n_frames: int,
        peaks: dict[str, list[float]],
        levels: dict[str, float | None],
    ) -> None:
        counts = {name: len(values) for name, values in peaks.items()}
        if len(set(counts.values())) != 1:
            self.failed[piece] = (
                f"tile counts differ between instruments ({counts}); delete its files and rerun"
            )
            return
        self.pieces[piece] = {
            "n_tiles": next(iter(counts.values())),
            "n_frames": n_frames,
            "split": self.split[piece],
            "seconds": self.seconds[piece],
            "peak_db": peaks,
            "level_db": {name: level for name, level in levels.items() if level is not None},
        }

    def write(self, complete: bool, force: bool = True) -> None:
        if not force and time.monotonic() - self.written < MANIFEST_EVERY_S:
            return
        with naming_failures(feature_store.manifest_path(self.features_path)):
            feature_store.write_manifest(
                self.features_path, self.header, self.pieces, self.failed, complete
            )
        self.written = time.monotonic()


def _previous(
    features_path: Path, spectrogram: SpectrogramConfig, features: FeatureConfig
) -> dict[str, Any]:
    """An earlier run's manifest (or {}); refuses tiles made with other settings."""
    data = feature_store.read_previous(features_path)
    if not data:
        return {}
    have = {
        **(data.get("spectrogram") or {}),
        "overlap": (data.get("features") or {}).get("overlap"),
    }
    diff = settings_diff(have, {**spectrogram.to_dict(), "overlap": features.overlap})
    if diff:
        raise ConfigError(
            f"{features_path}: holds tiles made with other settings: {diff}; "
            f"use another features folder or delete this one"
        )
    return data


def _plan(
    names: list[str],
    audios_path: Path,
    features_path: Path,
    spectrogram: SpectrogramConfig,
    overlap: int,
    previous: dict[str, Any],
    manifest: _Manifest,
) -> tuple[list[PieceJob], dict, list[str]]:
    """Jobs for pieces with missing files; finished pieces go straight into ``manifest``."""
    jobs, partial, skipped = [], {}, []
    for piece in sorted(manifest.split):
        job = PieceJob(audios_path, features_path, piece, tuple(names), (), spectrogram, overlap)
        try:
            for name in names:  # a symlinked file that leads out of its folder
                job.wav(name)
                job.tiles(name)
            found = {name: existing_peaks(job, name, previous) for name in names}
        except TimbreError as e:
            manifest.failed[piece] = str(e)
            continue
        todo = tuple(name for name, value in found.items() if value is None)
        if todo:
            jobs.append(dataclasses.replace(job, todo=todo))
            partial[piece] = {name: value for name, value in found.items() if value is not None}
        else:
            manifest.add(
                piece,
                next(iter(found.values()))[0],
                {name: value[1] for name, value in found.items()},
                {name: value[2] for name, value in found.items()},
            )
            skipped.append(piece)
    return jobs, partial, skipped


def compute_features(
    audios_path: str | os.PathLike,
    features_path: str | os.PathLike,
    *,
    instruments: Sequence[str] | None = None,
    spectrogram: SpectrogramConfig | None = None,
    features: FeatureConfig | None = None,
    jobs: int = 1,
    progress: bool = True,
    seed: int = 0,
) -> FeatureSummary:
    """Turn ``<audios>/<instrument>/<piece>.wav`` into tile files and the store's manifest.

    Resumable: tile files that exist with the right layout (and are newer
    than their audio) are kept; only missing ones are computed. A piece that
    fails (unreadable audio, lengths differing between instruments) is listed
    under ``"failed"`` with its reason and left out of the pieces; the rest
    of the run completes. Warnings raised in workers are re-issued here.

    Args:
        audios_path: folder written by ``synthesize_audios.py`` (its manifest + WAVs), or
            instrument folders of your own aligned recordings without a manifest (paired by
            file name and split by piece here: :func:`timbre.formats.audio_folder.from_folders`).
        features_path: output folder (created).
        instruments: subset of the audio manifest's instruments; ``None`` takes all.
            Instruments of an earlier run into ``features_path`` stay in the manifest
            (a later run can add some).
        spectrogram: STFT and tile settings; default ``SpectrogramConfig()``.
        features: overlap and silence settings; default ``FeatureConfig()``.
        jobs: worker processes (1 computes in this process).
        progress: show a tqdm progress bar.
        seed: seeds the train/val/test split of a folder without a manifest (recorded in the
            store's ``split_made``).

    Returns:
        A :class:`FeatureSummary`.

    Raises:
        DatasetError: missing folder, no manifest and no instrument folders sharing a piece
            name, unknown instrument, a piece in two splits, an instrument folder that resolves
            outside its folder (a symlink).
        ConfigError: ``overlap >= tile_frames``, ``jobs < 1``, or ``features_path`` holds
            tiles made with other settings.
        BusyError: another run is writing ``features_path``.
        OSError: a tile file or the manifest could not be written (a full disk; names the file).
    """
    spectrogram = spectrogram or SpectrogramConfig()
    features = features or FeatureConfig()
    audios_path, features_path = Path(audios_path).resolve(), Path(features_path)
    check_jobs(jobs)
    if features.overlap >= spectrogram.tile_frames:
        raise ConfigError(
            f"overlap={features.overlap} (expected 0 to tile_frames - 1 = "
            f"{spectrogram.tile_frames - 1})"
        )
    if not audios_path.is_dir():
        raise DatasetError(f"{audios_path}: audio folder not found")
    source = audio_folder.manifest_path(audios_path)
    if source.is_file():
        audios = audio_folder.read(audios_path)
    else:  # own recordings: instrument folders without a manifest
        audios, source = audio_folder.from_folders(audios_path, seed), audios_path
    names = _choose_instruments(audios["instruments"], instruments, source)
    split, split_given = audio_folder.split_of(audios, source)
    if not split:
        raise DatasetError(f"{source}: no pieces (expected at least one)")
    with run_lock(features_path, "compute_features.py"):
        return _compute(
            audios_path,
            features_path,
            audios,
            names,
            split,
            split_given,
            spectrogram,
            features,
            jobs,
            progress,
        )


def _compute(
    audios_path: Path,
    features_path: Path,
    audios: dict[str, Any],
    names: list[str],
    split: dict[str, str],
    split_given: bool,
    spectrogram: SpectrogramConfig,
    features: FeatureConfig,
    jobs: int,
    progress: bool,
) -> FeatureSummary:
    """:func:`compute_features` once the inputs are checked and the folder is locked."""
    previous = _previous(features_path, spectrogram, features)
    # earlier runs' instruments stay
    kept = [name for name in previous.get("instruments", []) if name not in names]
    names = [name for name in kept if name in audios["instruments"]] + names
    for name in names:  # a symlinked instrument folder that leads out
        audio_folder.instrument_folder(audios_path, name)
    folders = [feature_store.instrument_folder(features_path, name) for name in names]
    remove_temporaries([features_path, *folders])
    header = {
        "spectrogram": spectrogram.to_dict(),
        "features": features.to_dict(),
        "audios_path": str(audios_path),
        "instruments": names,
        "split_given": split_given,
        "split_made": audios.get("split_made"),  # None: the audio manifest's split
    }
    seconds = {
        p: (e.get("seconds") if isinstance(e, dict) else None) for p, e in audios["pieces"].items()
    }
    manifest = _Manifest(features_path, header, split, seconds)
    todo, partial, skipped = _plan(
        names,
        audios_path,
        features_path,
        spectrogram,
        features.overlap,
        previous.get("pieces") or {},
        manifest,
    )
    manifest.write(complete=False)
    computed = []
    # closed at once on any exit (Ctrl-C included): the pool then starts no further piece
    with contextlib.closing(_run_jobs(todo, jobs, progress)) as results:
        try:
            for piece, result, caught in results:
                for message in caught:
                    warnings.warn(message, stacklevel=2)
                if isinstance(result, str):
                    manifest.failed[piece] = result
                    continue
                found = {**partial[piece], **result}
                manifest.add(
                    piece,
                    next(iter(result.values()))[0],
                    {name: found[name][1] for name in names},
                    {name: found[name][2] for name in names},
                )
                computed.append(piece)
                manifest.write(complete=False, force=False)
        except KeyboardInterrupt:
            manifest.write(complete=False)  # the peaks of the pieces done so far
            raise
    manifest.write(complete=True)
    n_tiles = sum(entry["n_tiles"] for entry in manifest.pieces.values())
    return FeatureSummary(
        features_path, sorted(computed), skipped, dict(sorted(manifest.failed.items())), n_tiles
    )
