"""Reading, writing, resampling and checking audio: the only module that touches audio files.

Audio inside timbre is always a 1-D float32 NumPy array (mono) with a separate
``sample_rate`` in Hz. Anything libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF,
...) at any rate and channel count is accepted; channels are averaged to mono
and the rate is converted with soxr (high quality). Long files can be streamed
in blocks (:func:`read_blocks`, :class:`AudioWriter`) so memory does not grow
with their length.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from timbre.errors import AudioError
from timbre.io.atomic import TEMPORARY_MARK, atomic_path
from timbre.io.paths import not_regular

SILENCE_PEAK = 1e-5  # peak below this (-100 dBFS) counts as silent
CLIP_PEAK = 0.999  # peak at or above this counts as (possibly) clipped
SUBTYPES = ("FLOAT", "PCM_16", "PCM_24")
CHECK_BLOCK = 1 << 18  # samples that check() looks at per step
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
    kind = not_regular(path)
    if kind:  # reading a pipe or a device would block or never end
        raise AudioError(f"{path}: is {kind}, not a regular file (expected an audio file)")


def _open(path: Path) -> sf.SoundFile:
    _check_exists(path)
    try:
        return sf.SoundFile(path)
    except (RuntimeError, sf.SoundFileError, TypeError, ValueError, OverflowError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from e


# libsndfile's log line for a data chunk that claims more bytes than the file holds (WAV "data",
# AIFF "SSND"); libsndfile then reads what is there and reports that many frames
_SHORT_CHUNK = re.compile(r"^(?:data|SSND) *: *(\d+) \(should be (\d+)\)", re.MULTILINE)
# chunk sizes that streaming writers put for "length unknown" (sox 0x7FFFF000, others 0x7FFFFFFF,
# ffmpeg and RF64 0xFFFFFFFF): not a truncated file. Any other size beyond the file is one, however
# large (a header promising 10^9 frames of float32 claims 4e9 bytes).
_UNKNOWN_LENGTHS = frozenset({0x7FFFF000, 0x7FFFFFFE, 0x7FFFFFFF})
_UNKNOWN_FROM = 0xFFFFF000


def _warn_truncated(f: sf.SoundFile, path: Path, stacklevel: int) -> None:
    """Warn when the file's header promises more audio than the file holds (a cut-off copy)."""
    match = _SHORT_CHUNK.search(f.extra_info or "")
    if match is None:
        return
    claimed, present = int(match.group(1)), int(match.group(2))
    unknown = claimed in _UNKNOWN_LENGTHS or claimed >= _UNKNOWN_FROM
    if present >= claimed or unknown or not f.frames:
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
    flat, bad, peak = audio.reshape(-1), 0, 0.0
    for start in range(0, flat.size, CHECK_BLOCK):  # in blocks: no temporary of audio's size
        block = flat[start : start + CHECK_BLOCK]
        finite = np.isfinite(block)
        bad += int(block.size - np.count_nonzero(finite))
        peak = max(peak, float(np.max(np.abs(block), where=finite, initial=0.0)))
    if bad:
        raise AudioError(f"{name}: {bad} non-finite samples (NaN or inf)")
    _warn_level(peak, name, stacklevel + 1)


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


def regroup(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The samples of a stream of 1-D blocks (:func:`read_blocks`) as arrays of ``size``
    samples, the last one shorter when the stream ends between them."""
    pending, held = [], 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


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


class Scratch:
    """Float32 mono samples parked on disk, then read back in blocks: for a result whose final
    gain is known only once all of it exists (bounded memory, whatever its length).

    The file is unnamed (``O_TMPFILE``; where the file system lacks it, a temporary name that
    :func:`timbre.io.atomic.remove_temporaries` removes) in the folder of ``path``, the output
    it is for: the same disk, and nothing left behind by a killed run. Errors name ``path``.
    ``with Scratch(out) as s: s.write(block) ...; for block in s.blocks(n): ...``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.frames = 0  # samples written

    def __enter__(self) -> Scratch:
        try:
            self._file = tempfile.TemporaryFile(
                prefix=f".{self.path.stem}{TEMPORARY_MARK}", dir=self.path.parent
            )
        except OSError as e:
            raise _write_error(self.path, e) from e
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a 1-D block."""
        data = np.asarray(block, dtype=np.float32)
        try:
            self._file.write(data.tobytes())
        except OSError as e:
            raise _write_error(self.path, e) from e
        self.frames += len(data)

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """Everything written, from the start, as float32 blocks of ``block_frames`` samples."""
        try:
            self._file.flush()
            self._file.seek(0)
        except OSError as e:
            raise _write_error(self.path, e) from e
        while data := self._file.read(4 * block_frames):
            yield np.frombuffer(data, dtype=np.float32)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()


def _write_error(path: Path, error: BaseException) -> AudioError:
    """An :class:`AudioError` naming ``path`` for a failed write; keeps ``errno`` (ENOSPC ...).

    soundfile reports a short write (a full disk) as a bare ``AssertionError``, and a failed
    flush or header as libsndfile's "System error." without an ``errno``: either, on a file
    system with no space left, is a full disk.
    """
    code = getattr(error, "errno", None)
    if code == errno.ENOSPC or (code is None and _disk_full(path)):
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
