"""Reading, writing, resampling and checking audio: the only module that touches audio files.

Audio inside timbre is always a 1-D float32 NumPy array (mono) with a separate
``sample_rate`` in Hz. Anything libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF,
...) at any rate and channel count is accepted; channels are averaged to mono
and the rate is converted with soxr (high quality). Long files can be streamed
in blocks (:func:`read_blocks`, :class:`AudioWriter`) so memory does not grow
with their length.

Level measures live here too: :func:`active_level_db` (what conversion brings to
the model's training level; one transient cannot move it) and
:class:`PeakLimiter` (keeps written conversions under full scale without
touching anything that was already below it).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from timbre.errors import AudioError
from timbre.io.atomic import atomic_path

SILENCE_PEAK = 1e-5  # peak below this (-100 dBFS) counts as silent
CLIP_PEAK = 0.999  # peak at or above this counts as (possibly) clipped
LEVEL_BLOCK_S = 0.4  # active_level_db: RMS block length, s (EBU R128's momentary window)
LEVEL_STEP_S = 0.1  # ... hop between blocks, s
LEVEL_FLOOR_DB = -100.0  # ... blocks at or below this RMS (dBFS) are digital silence
LEVEL_LOUD_PERCENTILE = 95.0  # ... "the loud end" of a file: this percentile of its block levels
LEVEL_GATE_DB = 30.0  # ... blocks more than this below the loud end are pauses, not playing
LIMIT_CEILING = 0.99  # PeakLimiter: no sample leaves it above this (-0.09 dBFS)
LIMIT_RAMP_S = 0.01  # ... gain ramps into and out of a reduction over 2x this, s
SUBTYPES = ("FLOAT", "PCM_16", "PCM_24")
AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".w64",
        ".rf64",
        ".caf",
        ".au",
        ".snd",
    }
)  # files a folder of recordings is taken to hold


def is_audio_file(path: Path) -> bool:
    """True for a visible file whose suffix is one of :data:`AUDIO_SUFFIXES` (any case)."""
    return (
        path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header."""

    sample_rate: int  # Hz
    frames: int  # samples per channel
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder (expected an audio file)")


def _open(path: Path) -> sf.SoundFile:
    _check_exists(path)
    try:
        return sf.SoundFile(path)
    except (RuntimeError, sf.SoundFileError, TypeError, ValueError, OverflowError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from e


# libsndfile's log line for a data chunk that claims more bytes than the file holds (WAV "data",
# AIFF "SSND"); libsndfile then reads what is there and reports that many frames
_SHORT_CHUNK = re.compile(r"^(?:data|SSND) *: *(\d+) \(should be (\d+)\)", re.MULTILINE)
_UNKNOWN_LENGTH = 0x7FFFFFFF  # chunk sizes from here up mean "unknown" (streamed), not truncated


def _warn_truncated(f: sf.SoundFile, path: Path, stacklevel: int) -> None:
    """Warn when the file's header promises more audio than the file holds (a cut-off copy)."""
    match = _SHORT_CHUNK.search(f.extra_info or "")
    if match is None:
        return
    claimed, present = int(match.group(1)), int(match.group(2))
    if present >= claimed or claimed >= _UNKNOWN_LENGTH or not f.frames:
        return
    promised = f.frames * claimed / max(present, 1)
    warnings.warn(
        f"{path}: truncated: the header promises {promised / f.samplerate:.2f} s, the file holds "
        f"{f.frames / f.samplerate:.2f} s (the audio that is there is used; copy or export the "
        "file again if it should be longer)",
        stacklevel=stacklevel + 1,
    )


def info(path: str | os.PathLike) -> AudioInfo:
    """Return the sample rate, length and channel count of an audio file.

    Raises:
        AudioError: missing or unreadable file.
    """
    with _open(Path(path)) as f:
        return AudioInfo(
            sample_rate=int(f.samplerate), frames=int(f.frames), channels=int(f.channels)
        )


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Convert ``audio`` (1-D) from ``from_rate`` to ``to_rate`` Hz with soxr (HQ)."""
    if from_rate == to_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


class Resampler:
    """Streaming rate conversion with soxr (HQ): feed blocks, the output concatenated equals
    :func:`resample` of the whole signal up to soxr's streaming precision.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")
        )

    def feed(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next 1-D block; ``last=True`` also flushes the filter's delay line."""
        block = np.asarray(block, dtype=np.float32)
        return block if self._stream is None else self._stream.resample_chunk(block, last=last)


def check(audio: np.ndarray, name: str, stacklevel: int = 2) -> None:
    """Raise on unusable audio and warn on suspicious audio.

    Args:
        audio: samples of any shape.
        name: what to call it in messages (usually the file path).
        stacklevel: passed to ``warnings.warn``.

    Raises:
        AudioError: ``audio`` is empty or holds NaN/inf samples.
    """
    if audio.size == 0:
        raise AudioError(f"{name}: zero-length audio (expected at least one sample)")
    if not np.all(np.isfinite(audio)):
        bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
        raise AudioError(f"{name}: {bad} non-finite samples (NaN or inf)")
    _warn_level(float(np.max(np.abs(audio))), name, stacklevel + 1)


def _warn_level(peak: float, name: str, stacklevel: int) -> None:
    if peak < SILENCE_PEAK:
        warnings.warn(f"{name}: audio is silent (peak {peak:.2g})", stacklevel=stacklevel + 1)
    elif peak >= CLIP_PEAK:
        warnings.warn(f"{name}: audio may be clipped (peak {peak:.4f})", stacklevel=stacklevel + 1)


def load(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 mono, optionally resampled.

    Args:
        path: any file libsndfile reads.
        sample_rate: output rate in Hz; ``None`` keeps the file's rate.

    Returns:
        ``(audio, sample_rate)``: shape ``(n_samples,)`` float32, and its rate in Hz.

    Raises:
        AudioError: missing, unreadable or corrupt file; zero-length audio;
            non-finite samples. Silent, clipped or truncated audio (a header that
            promises more than the file holds) only warns.
    """
    path = Path(path)
    with _open(path) as f:
        file_rate = int(f.samplerate)
        _warn_truncated(f, path, stacklevel=2)
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (RuntimeError, sf.SoundFileError, ValueError) as e:
            raise AudioError(f"{path}: corrupt audio data ({type(e).__name__}: {e})") from e
    audio = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    check(audio, str(path), stacklevel=3)
    rate = file_rate if sample_rate is None else int(sample_rate)
    return resample(audio, file_rate, rate), rate


def read_blocks(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    block_frames: int = 1 << 20,
    warn: bool = True,
) -> Iterator[np.ndarray]:
    """Stream a file as float32 mono blocks at ``sample_rate``, in bounded memory.

    The blocks concatenated equal ``load(path, sample_rate)[0]`` up to the
    resampler's streaming precision (soxr keeps state across blocks).

    Args:
        path: any file libsndfile reads.
        sample_rate: output rate in Hz; ``None`` keeps the file's rate.
        block_frames: input samples read per block.
        warn: warn about silent, clipped or truncated audio (as :func:`load`);
            ``False`` for a second pass over a file already checked.

    Yields:
        1-D float32 arrays (the last may be short; a block may be empty while
        the resampler fills its delay line).

    Raises:
        AudioError: as :func:`load`.
    """
    path = Path(path)
    with _open(path) as f:
        file_rate = int(f.samplerate)
        rate = file_rate if sample_rate is None else int(sample_rate)
        if f.frames == 0:
            raise AudioError(f"{path}: zero-length audio (expected at least one sample)")
        if warn:
            _warn_truncated(f, path, stacklevel=2)
        stream = Resampler(file_rate, rate)
        peak = 0.0
        while True:
            try:
                data = f.read(block_frames, dtype="float32", always_2d=True)
            except (RuntimeError, sf.SoundFileError, ValueError) as e:
                raise AudioError(f"{path}: corrupt audio data ({type(e).__name__}: {e})") from e
            last = len(data) < block_frames
            block = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()
            if not np.all(np.isfinite(block)):
                raise AudioError(f"{path}: non-finite samples (NaN or inf)")
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
            yield stream.feed(block, last=last)
            if last:
                break
    if warn:
        _warn_level(peak, str(path), stacklevel=2)


def save(
    path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT"
) -> None:
    """Write mono audio atomically; the format follows the suffix (.wav, .flac, .ogg).

    Args:
        path: destination; its folder is created.
        audio: shape ``(n_samples,)``.
        sample_rate: Hz.
        subtype: ``"FLOAT"`` (32-bit float), ``"PCM_16"`` or ``"PCM_24"``.

    Raises:
        AudioError: unknown subtype or format, or the write failed.
    """
    with AudioWriter(path, sample_rate, subtype) as writer:
        writer.write(audio)


class AudioWriter:
    """Context manager writing mono audio block by block, renamed into place on success.

    ``with AudioWriter(path, 44100) as w: w.write(block)``. If the block raises,
    nothing appears at ``path``.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, subtype: str = "FLOAT") -> None:
        if subtype not in SUBTYPES:
            raise AudioError(f"{path}: unknown subtype {subtype!r} (expected one of {SUBTYPES})")
        self.path = Path(path)
        fmt = self.path.suffix.lstrip(".").upper()
        if fmt not in sf.available_formats():
            raise AudioError(
                f"{path}: unknown audio format {self.path.suffix!r} (expected e.g. .wav, .flac, "
                ".ogg)"
            )
        self.sample_rate = int(sample_rate)
        self.subtype = subtype if fmt in ("WAV", "AIFF", "FLAC", "W64", "RF64") else None
        if fmt == "FLAC" and subtype == "FLOAT":
            self.subtype = "PCM_24"

    def __enter__(self) -> AudioWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._file = sf.SoundFile(
                tmp, "w", samplerate=self.sample_rate, channels=1, subtype=self.subtype
            )
        except (RuntimeError, sf.SoundFileError, ValueError) as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise AudioError(f"{self.path}: cannot write audio ({e})") from e
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a 1-D block of samples.

        Raises:
            AudioError: the write failed (a full disk: ``errno`` is ``ENOSPC``); names the file.
        """
        try:
            self._file.write(np.asarray(block, dtype=np.float32))
        except (OSError, RuntimeError, AssertionError, sf.SoundFileError) as e:
            raise _write_error(self.path, e) from e

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._file.close()
        except (OSError, RuntimeError, sf.SoundFileError) as e:
            if exc is None:  # a failed flush: the temporary file goes, the error is the write's
                exc = _write_error(self.path, e)
                self._atomic.__exit__(type(exc), exc, exc.__traceback__)
                raise exc from e
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def _write_error(path: Path, error: BaseException) -> AudioError:
    """An :class:`AudioError` naming ``path`` for a failed write; keeps ``errno`` (ENOSPC ...).

    soundfile reports a short write (a full disk) as a bare ``AssertionError``.
    """
    code = getattr(error, "errno", None)
    if code == errno.ENOSPC or (isinstance(error, AssertionError) and _disk_full(path)):
        code, reason = errno.ENOSPC, "no space left on device; free some space and rerun"
    else:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    wrapped = AudioError(f"{path}: cannot write audio ({reason})")
    wrapped.errno = code
    return wrapped


def _disk_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has no space left for ordinary users."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < (1 << 20)


# --- Level: a measure one transient cannot fool, and a limiter that only acts where needed.


def active_level_db(audio: np.ndarray, sample_rate: int) -> float:
    """The level a listener would call the recording's playing level, in dBFS RMS.

    The median RMS level of the 400 ms blocks (100 ms apart, as EBU R128's
    momentary loudness) that are *active*: above digital silence
    (:data:`LEVEL_FLOOR_DB`) and within :data:`LEVEL_GATE_DB` of the file's loud
    end (the :data:`LEVEL_LOUD_PERCENTILE` th percentile of its block levels),
    so pauses and decays into silence do not count. Not the peak, and not a
    power mean either: a transient, however loud, changes at most the five
    blocks that hold it, which a median over the file's blocks shrugs off
    (a 5 ms full-scale click in 30 s of playing at -40 dBFS moves a power mean
    by ~3 dB and this measure by ~0). Scaling the audio by ``g`` moves the
    result by exactly ``20 log10 g`` (every gate is relative), which is what
    level-invariant conversion needs. A full-scale sine measures -3.01 dB.
    Audio shorter than one block is one block.

    Args:
        audio: 1-D samples.
        sample_rate: Hz.

    Returns:
        The level in dB (float); ``-inf`` for silent or empty audio.
    """
    meter = LevelMeter(sample_rate)
    meter.add(audio)
    return meter.level_db()


class LevelMeter:
    """:func:`active_level_db` in bounded steps: ``add`` blocks of any size, then ``level_db``.

    Holds one float per 100 ms of audio; the result does not depend on how
    the audio was cut into blocks.
    """

    def __init__(self, sample_rate: int) -> None:
        self.step = max(1, round(LEVEL_STEP_S * sample_rate))  # samples per 100 ms chunk
        self.chunks_per_block = max(1, round(LEVEL_BLOCK_S / LEVEL_STEP_S))
        self._partial = np.zeros(0, dtype=np.float64)  # samples of the unfinished chunk
        self._sums: list[np.ndarray] = []  # sum of squares of each finished chunk
        self._total, self._count = 0.0, 0  # sum of squares and count of all samples

    def add(self, block: np.ndarray) -> None:
        """Take the next samples (1-D)."""
        data = np.concatenate([self._partial, np.asarray(block, dtype=np.float64).ravel()])
        whole = len(data) // self.step * self.step
        if whole:
            self._sums.append(np.sum(data[:whole].reshape(-1, self.step) ** 2, axis=1))
        self._partial = data[whole:]
        self._total += float(np.sum(np.asarray(block, dtype=np.float64) ** 2))
        self._count += int(np.size(block))

    def level_db(self) -> float:
        """The active level of everything added so far (see :func:`active_level_db`)."""
        sums = np.concatenate(self._sums) if self._sums else np.zeros(0)
        span = self.chunks_per_block
        if len(sums) < span:  # shorter than one block: the whole signal is the block
            powers = np.array([self._total / self._count if self._count else 0.0])
        else:
            running = np.concatenate([[0.0], np.cumsum(sums)])
            powers = (running[span:] - running[:-span]) / (span * self.step)
        levels = 10.0 * np.log10(np.maximum(powers, 1e-30))
        levels = levels[levels > LEVEL_FLOOR_DB]
        if not levels.size:
            return float("-inf")
        loud = np.percentile(levels, LEVEL_LOUD_PERCENTILE)
        return float(np.median(levels[levels >= loud - LEVEL_GATE_DB]))


def _window_minima(values: np.ndarray, size: int) -> np.ndarray:
    """``min(values[i : i + size])`` for each of the ``len(values) - size + 1`` full windows.

    The van Herk/Gil-Werman running minimum (minima from each block of ``size``
    samples' start and to its end; every window spans at most two blocks): O(n)
    in NumPy, exactly ``scipy.ndimage.minimum_filter1d`` on the windows that fit,
    without importing SciPy (0.2 s of ``predict.py``'s start-up).
    """
    values = np.asarray(values)
    blocks = -(-len(values) // size)
    grid = np.full(blocks * size, np.inf)
    grid[: len(values)] = values
    grid = grid.reshape(blocks, size)
    from_start = np.minimum.accumulate(grid, axis=1).ravel()
    to_end = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    count = len(values) - size + 1
    return np.minimum(to_end[:count], from_start[size - 1 : size - 1 + count])


class PeakLimiter:
    """A look-ahead peak limiter that leaves audio under :data:`LIMIT_CEILING` untouched.

    Each sample needs the gain ``min(1, ceiling / |x|)``; the applied gain is
    that need's running minimum over ``2 W + 1`` samples, smoothed by a moving
    average of the same length (``W`` = :data:`LIMIT_RAMP_S`). The average of
    minima that each include the sample never exceeds the sample's own need,
    so no output sample exceeds the ceiling, yet the gain moves in linear ramps
    of ``2 W`` samples (20 ms) into and out of a reduction: a transient is
    turned down for ~40 ms around itself and the rest of the file keeps its
    level (no whole-file gain). Output is delayed internally by ``2 W``
    samples; ``feed`` and ``finish`` together return exactly the samples fed.

    Attributes:
        reduction_db: the deepest gain reduction so far (<= 0 dB).
        limited: samples whose gain was reduced.
    """

    def __init__(
        self, sample_rate: int, ceiling: float = LIMIT_CEILING, ramp_s: float = LIMIT_RAMP_S
    ) -> None:
        self.ceiling, self.width = float(ceiling), max(1, round(ramp_s * sample_rate))
        self._needs = np.ones(2 * self.width)  # gain needs of the 2W samples before _held
        self._held = np.zeros(0, dtype=np.float32)  # samples waiting for their look-ahead
        self.reduction_db, self.limited = 0.0, 0

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take samples (1-D); return the limited samples whose look-ahead is complete."""
        block = np.asarray(block, dtype=np.float32)
        need = np.minimum(1.0, self.ceiling / np.maximum(np.abs(block), 1e-30))
        self._needs = np.concatenate([self._needs, need])
        self._held = np.concatenate([self._held, block])
        return self._emit()

    def finish(self) -> np.ndarray:
        """End of input: the remaining samples."""
        self._needs = np.concatenate([self._needs, np.ones(2 * self.width)])
        return self._emit()

    def _emit(self) -> np.ndarray:
        size = 2 * self.width + 1
        count = len(self._needs) - 4 * self.width  # held samples whose window is complete
        if count <= 0:
            return np.zeros(0, dtype=np.float32)
        needs, out = self._needs, self._held[:count]
        if np.min(needs) < 1.0:
            floor = _window_minima(needs, size)
            running = np.concatenate([[0.0], np.cumsum(floor)])
            gain = (running[size:] - running[:-size]) / size
            gain[gain > 1.0 - 1e-9] = 1.0  # windows of ones, up to the running sum's rounding
            limited = gain < 1.0
            if limited.any():
                self.limited += int(np.count_nonzero(limited))
                self.reduction_db = min(self.reduction_db, 20.0 * float(np.log10(gain.min())))
                out = (out * gain).astype(np.float32)
        self._needs, self._held = self._needs[count:], self._held[count:]
        return out
