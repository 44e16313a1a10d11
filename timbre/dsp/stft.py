"""Log-magnitude spectrograms and their inversion: NumPy only (no TensorFlow, librosa or SciPy).

The representation: a centred Hann STFT; magnitudes scaled by
``2 / sum(window)`` so a full-scale sinusoid has magnitude 1; the lowest
``n_bins`` bins kept; then ``log1p(mag / amin) / log1p(1 / amin)`` clipped to
[0, 1] and mapped to [-1, 1]. -1 is silence (:data:`SILENCE`). Arrays are
``(n_bins, n_frames)``, frequency first, as librosa returns them.

The STFT and its inverse are librosa's arithmetic written out in NumPy (equal
to float32 rounding; the tests compare them), because this module is on
``predict.py``'s path: librosa and SciPy cost it ~0.4 s of imports and ~0.7 s
more at the first STFT (librosa's core, numba).
The STFT and its inverse are written once, as block processors
(:class:`Analyser`, :class:`OverlapAdder`) that the whole-array :func:`stft`
and :func:`istft` feed once and streaming conversion feeds block by block.
"""

from __future__ import annotations

import numpy as np

from timbre.errors import ConfigError
from timbre.settings import SpectrogramConfig

SILENCE = -1.0  # normalised value of zero magnitude
STFT_BLOCK = 1 << 16  # stft: samples of frames per FFT call (64 frames at n_fft=1024)


def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples (float64), bitwise what librosa's STFT
    uses (``scipy.signal.get_window("hann", n_fft, fftbins=True)``, SciPy's formula).
    """
    if n_fft <= 1:
        return np.ones(n_fft)
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n_fft + 1)))[:-1]


def magnitude_scale(config: SpectrogramConfig) -> float:
    """Factor ``2 / sum(window)`` that maps a full-scale sinusoid's STFT peak to 1."""
    return float(2.0 / np.sum(hann_window(config.n_fft)))


def n_frames_for(n_samples: int, config: SpectrogramConfig) -> int:
    """Number of STFT frames for ``n_samples`` samples (centred frames)."""
    return 1 + n_samples // config.hop_length


def stft(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Complex STFT of ``audio``, all ``n_fft // 2 + 1`` bins, shape (n_fft//2+1, n_frames).

    ``librosa.stft(audio, window="hann", center=True, pad_mode="constant")``
    (complex64; bitwise equal): centred frames of the signal zero-padded by
    ``n_fft // 2`` at each end, so audio shorter than ``n_fft`` is fine. One
    :class:`Analyser` given the whole signal.
    """
    return Analyser(config).finish(audio)


def istft(spectrum: np.ndarray, config: SpectrogramConfig, length: int) -> np.ndarray:
    """Inverse of :func:`stft` to exactly ``length`` samples (float32).

    ``librosa.istft(spectrum, window="hann", center=True, length=length)`` to
    float32 rounding: one :class:`OverlapAdder` given every frame that reaches
    the first ``length`` samples, then finished to ``length``.
    ``spectrum`` may hold only the lowest bins (the rest count as zero).
    """
    half = config.n_fft // 2
    count = min(spectrum.shape[1], -(-(length + 2 * half) // config.hop_length))
    adder = OverlapAdder(config)
    return np.concatenate([adder.feed(spectrum[:, :count]), adder.finish(length)])[:length]


class Analyser:
    """The centred Hann STFT as a block processor: feed samples, get the frames they complete.

    Frame ``j`` is the windowed FFT of samples ``j * hop - n_fft // 2`` to
    ``j * hop + n_fft - n_fft // 2`` (zero outside the signal), so the frames of
    all blocks together, once finished, are bitwise :func:`stft` of the whole
    signal, however it was cut. Only the samples of frames not yet complete
    are kept.

    Args:
        config: ``n_fft`` and ``hop_length``.
    """

    def __init__(self, config: SpectrogramConfig) -> None:
        self.n_fft, self.hop = config.n_fft, config.hop_length
        self.window = hann_window(self.n_fft)
        self.signal = np.zeros(self.n_fft // 2, dtype=np.float32)  # from the next frame's start

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take the next samples (1-D); return the frames they complete.

        Returns:
            complex64 of shape (n_fft // 2 + 1, k), ``k >= 0``.
        """
        self.signal = np.concatenate([self.signal, np.asarray(block, dtype=np.float32)])
        return self._frames()

    def finish(self, block: np.ndarray | None = None) -> np.ndarray:
        """End of the signal (after ``block``'s samples, if given): return the remaining frames,
        whose end is zero-padded by ``n_fft // 2``, in the shape of :meth:`feed`'s.
        """
        last = [] if block is None else [np.asarray(block, dtype=np.float32)]
        tail = np.zeros(self.n_fft // 2, dtype=np.float32)
        self.signal = np.concatenate([self.signal, *last, tail])
        return self._frames()

    def _frames(self) -> np.ndarray:
        """FFT every whole frame of ``signal``, in calls of STFT_BLOCK samples; drop their hops."""
        n_fft, hop = self.n_fft, self.hop
        count = 1 + (len(self.signal) - n_fft) // hop if len(self.signal) >= n_fft else 0
        out = np.empty((count, n_fft // 2 + 1), dtype=np.complex64)
        if count:
            view = np.lib.stride_tricks.sliding_window_view(self.signal, n_fft)
            frames = view[: count * hop : hop]
            step = max(
                1, STFT_BLOCK // n_fft
            )  # frames per FFT call: float64 temporaries stay small
            for start in range(0, count, step):
                chunk = frames[start : start + step] * self.window
                out[start : start + step] = np.fft.rfft(chunk, axis=1)
            self.signal = self.signal[count * hop :]
        return out.T  # Fortran order, as librosa's


class OverlapAdder:
    """The inverse of :class:`Analyser` as a block processor: feed complex frames, get the
    samples that are final.

    Each frame's inverse FFT is windowed and cut into ``overlaps = ceil(n_fft / hop)``
    pieces of ``hop`` samples; output block ``b`` (samples ``b * hop`` to
    ``(b + 1) * hop`` of the padded signal) is final once frame ``b`` came, and
    is the sum of piece ``k`` of frame ``b - k`` for ``k = 0, 1, ...`` in that
    order (one order for every way of cutting the frames, so any cut gives
    :func:`istft` bitwise), divided by the same sum of squared windows wherever
    that exceeds float32's ``tiny``; the first ``n_fft // 2`` samples (the
    analysis padding) are dropped. Float32 throughout; only the pieces of the
    last ``overlaps - 1`` frames are kept::

        frame b-1:  [ k=0 | k=1 ]
        frame b:          [ k=0 | k=1 ]
        block:            |  b  |          (hop = n_fft / 2: overlaps = 2)

    Args:
        config: ``n_fft`` and ``hop_length``.
    """

    def __init__(self, config: SpectrogramConfig) -> None:
        self.n_fft, self.hop = config.n_fft, config.hop_length
        self.overlaps = -(-self.n_fft // self.hop)  # frames that share a sample
        self.window = hann_window(self.n_fft).astype(np.float32)
        self.squares = self._pieces(self.window[None] ** 2)  # (1, overlaps, hop)
        self.held = self._pieces(np.zeros((0, self.n_fft), dtype=np.float32))  # last frames
        self.made = self.emitted = 0  # samples of the padded signal made; samples given out

    def feed(self, spectrum: np.ndarray) -> np.ndarray:
        """Add frames (n_bins, k) complex (unscaled STFT; bins above ``n_bins`` count as zero);
        return the samples they make final (float32, 1-D).
        """
        count = spectrum.shape[1]
        full = np.zeros((count, self.n_fft // 2 + 1), dtype=np.complex64)
        full[:, : spectrum.shape[0]] = spectrum.T
        frames = np.fft.irfft(full, n=self.n_fft, axis=1).astype(np.float32, copy=False)
        frames *= self.window  # NumPy 1's irfft gives float64: the cast above keeps float32
        return self._add(self._pieces(frames), count)

    def finish(self, length: int) -> np.ndarray:
        """Emit the rest, cut or zero-padded so that at least ``length`` samples were emitted
        in all (exactly ``length`` unless :meth:`feed` already gave out more).
        """
        before = self.emitted
        out = self._add(self.held[:0], self.overlaps - 1)[: max(0, length - before)]
        return np.pad(out, (0, max(0, length - before - len(out))))

    def _pieces(self, frames: np.ndarray) -> np.ndarray:
        """Frames (k, n_fft) -> (k, overlaps, hop): zero-padded to ``overlaps * hop`` and cut."""
        pad = self.overlaps * self.hop - self.n_fft
        if pad:
            frames = np.pad(frames, ((0, 0), (0, pad)))
        return frames.reshape(len(frames), self.overlaps, self.hop)

    def _add(self, pieces: np.ndarray, n_blocks: int) -> np.ndarray:
        """The next ``n_blocks`` output blocks from the held pieces and ``pieces``, normalised;
        keep the last ``overlaps - 1`` frames' pieces.
        """
        first = len(self.held)
        stacked = np.concatenate([self.held, pieces]) if first else pieces
        samples = _sum_blocks(stacked, first, n_blocks)
        weights = _sum_blocks(np.broadcast_to(self.squares, stacked.shape), first, n_blocks)
        self.held = stacked[max(0, len(stacked) - self.overlaps + 1) :].copy()
        audio = samples / np.where(weights > np.finfo(np.float32).tiny, weights, np.float32(1.0))
        skip = max(0, self.n_fft // 2 - self.made)  # analysis padding before the first sample
        self.made += len(audio)
        self.emitted += max(0, len(audio) - skip)
        return audio[skip:]


def _sum_blocks(pieces: np.ndarray, first: int, n_blocks: int) -> np.ndarray:
    """Output blocks ``first .. first + n_blocks`` (block ``b`` = frame ``b``'s start) of the
    frames ``pieces`` (k, overlaps, hop): block ``b`` adds piece ``j`` of frame ``b - j`` for
    ``j = 0, 1, ...`` (frames outside ``pieces`` count as zero); one vector addition per
    overlap, not one per frame. Returns the blocks' samples, 1-D.
    """
    count, overlaps, hop = pieces.shape
    out = np.zeros((n_blocks, hop), dtype=pieces.dtype)
    for j in range(overlaps):
        lo, hi = max(0, j - first), min(n_blocks, count - first + j)
        if hi > lo:
            out[lo:hi] += pieces[first + lo - j : first + hi - j, j]
    return out.ravel()


def normalise(magnitude: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Scaled magnitude (full-scale sine = 1) -> log-compressed values in [-1, 1]."""
    amin = config.amin
    compressed = np.log1p(np.asarray(magnitude, dtype=np.float64) / amin) / np.log1p(1.0 / amin)
    return (np.clip(compressed, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def denormalise(normalised: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Inverse of :func:`normalise` (exact inside [-1, 1]; values outside are clipped)."""
    amin = config.amin
    unit = (np.clip(np.asarray(normalised, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0
    return (amin * np.expm1(unit * np.log1p(1.0 / amin))).astype(np.float32)


def log_spectrogram(audio: np.ndarray, config: SpectrogramConfig) -> tuple[np.ndarray, np.ndarray]:
    """Audio -> (normalised log-magnitude, phase) of the lowest ``n_bins`` bins.

    Args:
        audio: shape (n_samples,), at ``config.sample_rate``; at least one sample.
        config: spectrogram settings.

    Returns:
        ``(spectrogram, phase)``, both float32 of shape (n_bins, n_frames) with
        ``n_frames = 1 + n_samples // hop_length``; spectrogram in [-1, 1],
        phase in radians.

    Raises:
        ConfigError: ``audio`` is not 1-D or is empty.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.size == 0:
        raise ConfigError(f"audio: shape {audio.shape} (expected a non-empty 1-D array)")
    spectrum = stft(audio, config)[: config.n_bins]
    magnitude = np.abs(spectrum) * magnitude_scale(config)
    return normalise(magnitude, config), np.angle(spectrum).astype(np.float32)


def check_inverse_args(spectrogram: np.ndarray, config: SpectrogramConfig, length: int) -> None:
    """Raise :class:`ConfigError` unless ``spectrogram`` is (n_bins, 1 + length // hop_length)."""
    if spectrogram.ndim != 2 or spectrogram.shape[0] != config.n_bins:
        raise ConfigError(
            f"spectrogram: shape {spectrogram.shape} (expected ({config.n_bins}, n_frames))"
        )
    if not isinstance(length, (int, np.integer)) or length <= 0:
        raise ConfigError(f"length={length!r} must be a positive integer")
    if spectrogram.shape[1] != n_frames_for(length, config):
        raise ConfigError(
            f"spectrogram: {spectrogram.shape[1]} frames for length={length} "
            f"(expected {n_frames_for(length, config)})"
        )


def invert_log_spectrogram(
    spectrogram: np.ndarray, phase: np.ndarray, config: SpectrogramConfig, length: int
) -> np.ndarray:
    """(normalised log-magnitude, phase) -> audio of exactly ``length`` samples.

    Args:
        spectrogram: shape (n_bins, n_frames), values in [-1, 1].
        phase: radians, same shape.
        config: the settings that made ``spectrogram``.
        length: output samples; ``n_frames`` must equal ``1 + length // hop_length``.

    Returns:
        float32 audio of shape (length,); bins above ``n_bins`` are zero.

    Raises:
        ConfigError: shapes disagree or ``length`` is not positive.
    """
    check_inverse_args(spectrogram, config, length)
    if phase.shape != spectrogram.shape:
        raise ConfigError(
            f"phase: shape {phase.shape} (expected {spectrogram.shape}, the spectrogram's)"
        )
    magnitude = denormalise(spectrogram, config) / magnitude_scale(config)
    return istft(magnitude * np.exp(1j * phase.astype(np.float32)), config, length)


def magnitude_error(audio: np.ndarray, magnitude: np.ndarray, config: SpectrogramConfig) -> float:
    """``||  |STFT(audio)| - magnitude ||_F / ||magnitude||_F`` over the lowest n_bins bins.

    How far audio's magnitude is from a wanted one (e.g. how consistent an
    inversion is); the evaluation's multi-resolution spectral convergence is
    :func:`timbre.evaluate.metrics.spectral_convergence`.
    ``magnitude`` is unscaled STFT magnitude, shape (n_bins, n_frames).
    """
    rebuilt = np.abs(stft(audio, config)[: magnitude.shape[0]])
    return float(np.linalg.norm(rebuilt - magnitude) / max(np.linalg.norm(magnitude), 1e-12))
