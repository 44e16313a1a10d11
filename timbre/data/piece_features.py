"""One piece's tile files: the job a feature worker runs (TensorFlow-free).

:func:`compute_piece` turns the missing ``<audios>/<instrument>/<piece>.wav`` of one piece
into ``<features>/<instrument>/<piece>.npy`` tile files (paths from
:mod:`timbre.formats.audio_folder` and :mod:`timbre.formats.feature_store`), after checking
that the instruments' audio has one length. It records, per instrument, the number of
frames, the peak of every tile in dB (:func:`tile_peaks_db`) and the file's active level
(:func:`timbre.dsp.level.active_level_db`, dBFS; ``None`` for silence).
:func:`existing_peaks` reads the same from a tile file an earlier run finished.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.dsp import tiling
from timbre.errors import DatasetError, TimbreError
from timbre.formats.audio_folder import piece_path
from timbre.formats.feature_store import tile_file_layout, tile_path
from timbre.io import audio as audio_io
from timbre.io.atomic import load_npy, naming_failures, save_npy
from timbre.settings import SpectrogramConfig

PEAK_FLOOR_DB = -200.0  # peak of an all-silent tile

# per instrument: (n_frames, peak of each tile in dB, active level in dBFS or None)
Found = tuple[int, list[float], float | None]


def tile_peaks_db(tiles: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Peak of each tile in dB of scaled magnitude (full-scale sine = 0 dB).

    Args:
        tiles: normalised tiles, shape (n_tiles, n_bins, tile_frames), float32 or float16.
        config: the settings that made them.

    Returns:
        float64 array (n_tiles,), rounded to 0.01 dB, at least :data:`PEAK_FLOOR_DB`.
    """
    peaks = np.max(
        np.asarray(tiles, dtype=np.float32).reshape(len(tiles), -1), axis=1, initial=sp.SILENCE
    )
    peaks = peaks.astype(np.float16).astype(
        np.float32
    )  # as stored: float32 and float16 tiles give equal peaks
    magnitude = sp.denormalise(peaks, config).astype(np.float64)
    return np.round(np.maximum(20.0 * np.log10(np.maximum(magnitude, 1e-30)), PEAK_FLOOR_DB), 2)


@dataclasses.dataclass(frozen=True)
class PieceJob:
    """The tile files of one piece that a run computes."""

    audios_path: Path
    features_path: Path
    piece: str
    instruments: tuple[str, ...]  # all instruments of the run (for the length check)
    todo: tuple[str, ...]  # the ones whose tile file is missing
    spectrogram: SpectrogramConfig
    overlap: int

    def wav(self, instrument: str) -> Path:
        """The piece's audio file of ``instrument`` (checked to stay inside the audio folder)."""
        return piece_path(self.audios_path, instrument, self.piece, self.audios_path)

    def tiles(self, instrument: str) -> Path:
        """The piece's tile file of ``instrument`` (checked to stay inside the store)."""
        return tile_path(self.features_path, instrument, self.piece, self.features_path)


def compute_piece(job: PieceJob) -> tuple[str, dict[str, Found] | str, list[str]]:
    """Compute and save the missing tile files of one piece.

    Returns:
        ``(piece, {instrument: (n_frames, peaks_db, level_db)} or the failure reason,
        warnings)``: the warnings are re-issued by the caller (a worker cannot show them).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _check_lengths(job)
            results = {name: _compute_tiles(job, name) for name in job.todo}
        except TimbreError as e:
            results = str(e)
    return job.piece, results, [str(w.message) for w in caught]


def _check_lengths(job: PieceJob) -> None:
    infos = {name: audio_io.info(job.wav(name)) for name in job.instruments}
    lengths = {
        name: round(i.frames * job.spectrogram.sample_rate / i.sample_rate)
        for name, i in infos.items()
    }
    if len(set(lengths.values())) > 1:
        seen = ", ".join(f"{name} {n} samples" for name, n in lengths.items())
        raise DatasetError(
            f"piece '{job.piece}': audio lengths differ ({seen}; expected equal lengths: the "
            "instruments of a piece aligned sample for sample)"
        )


def _compute_tiles(job: PieceJob, name: str) -> Found:
    """Tile one instrument's audio, save the tiles and return what the manifest records."""
    wav = job.wav(name)
    samples, _ = audio_io.load(wav, job.spectrogram.sample_rate)
    spectrogram, _ = sp.log_spectrogram(samples, job.spectrogram)
    tiles = tiling.tile(spectrogram, job.spectrogram.tile_frames, job.overlap)
    tiles = tiles.astype(np.float16)
    if not np.isfinite(tiles).all():
        raise DatasetError(
            f"{wav}: its spectrogram holds non-finite values (NaN or inf; expected "
            "finite tiles); check the audio file"
        )
    path = job.tiles(name)
    with naming_failures(path):  # a failed write (a full disk) stops the run with its name
        save_npy(path, tiles)
    return (
        spectrogram.shape[1],
        tile_peaks_db(tiles, job.spectrogram).tolist(),
        level_db(samples, job.spectrogram.sample_rate),
    )


def warm_up(spectrogram: SpectrogramConfig) -> None:
    """Run the spectrogram once here, so forked workers inherit what it loads."""
    sp.log_spectrogram(np.zeros(spectrogram.n_fft, np.float32), spectrogram)


def existing_peaks(job: PieceJob, name: str, previous: dict[str, Any]) -> Found | None:
    """(n_frames, peaks, level) of a finished tile file, or None when it must be computed.

    Peaks and level come from the earlier manifest's pieces (``previous``), else from the
    tile file and the audio.
    """
    path, wav = job.tiles(name), job.wav(name)
    if not path.exists() or (wav.exists() and wav.stat().st_mtime > path.stat().st_mtime):
        return None
    try:
        _, shape = tile_file_layout(path)
    except DatasetError:
        return None
    if shape[1:] != (job.spectrogram.n_bins, job.spectrogram.tile_frames):
        return None
    entry = previous.get(job.piece) or {}
    peaks = (entry.get("peak_db") or {}).get(name)
    level = (entry.get("level_db") or {}).get(name)
    if level is None and wav.exists():  # a manifest from before levels were recorded
        rate = job.spectrogram.sample_rate
        level = level_db(audio_io.load(wav, rate)[0], rate)
    if peaks is not None and len(peaks) == shape[0] and "n_frames" in entry:
        return entry["n_frames"], peaks, level
    peaks = tile_peaks_db(load_npy(path), job.spectrogram).tolist()
    return _frames_from_audio(job), peaks, level


def level_db(samples: np.ndarray, sample_rate: int) -> float | None:
    """:func:`timbre.dsp.level.active_level_db` to 0.01 dB; None for silence (JSON has no -inf)."""
    level = lv.active_level_db(samples, sample_rate)
    return round(level, 2) if np.isfinite(level) else None


def _frames_from_audio(job: PieceJob) -> int:
    info = audio_io.info(job.wav(job.instruments[0]))
    return sp.n_frames_for(
        round(info.frames * job.spectrogram.sample_rate / info.sample_rate), job.spectrogram
    )
