"""Log-magnitude spectrograms, tiling and inversion: NumPy only (no TensorFlow, librosa or SciPy).

The representation: a centred Hann STFT; magnitudes scaled by
``2 / sum(window)`` so a full-scale sinusoid has magnitude 1; the lowest
``n_bins`` bins kept; then ``log1p(mag / amin) / log1p(1 / amin)`` clipped to
[0, 1] and mapped to [-1, 1]. -1 is silence (:data:`SILENCE`). Arrays are
``(n_bins, n_frames)``, frequency first, as librosa returns them.

The STFT, its inverse and the edge prediction are librosa's and SciPy's
arithmetic written out in NumPy (equal to float32 rounding; the tests compare
them), because this module is on ``predict.py``'s path: librosa and SciPy cost
it ~0.4 s of imports and ~0.7 s more at the first STFT (librosa's core, numba).
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
    ``n_fft // 2`` at each end, so audio shorter than ``n_fft`` is fine.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n_fft, hop = config.n_fft, config.hop_length
    padded = np.pad(audio, n_fft // 2)
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[: count * hop : hop]
    window = hann_window(n_fft)
    out = np.empty((count, n_fft // 2 + 1), dtype=np.complex64)
    step = max(1, STFT_BLOCK // n_fft)  # frames per FFT call: float64 temporaries stay small
    for start in range(0, count, step):
        out[start : start + step] = np.fft.rfft(frames[start : start + step] * window, axis=1)
    return out.T  # Fortran order, as librosa's


def istft(spectrum: np.ndarray, config: SpectrogramConfig, length: int) -> np.ndarray:
    """Inverse of :func:`stft` to exactly ``length`` samples (float32).

    ``librosa.istft(spectrum, window="hann", center=True, length=length)`` to
    float32 rounding: windowed inverse FFTs overlap-added, divided by the summed
    squared window wherever it exceeds float32's ``tiny``, the ``n_fft // 2``
    padding dropped, cut or zero-filled to ``length``; in float32 throughout, the
    arithmetic of the streaming inverse (``timbre.convert.streaming``).
    ``spectrum`` may hold only the lowest bins (the rest count as zero).
    """
    n_fft, hop = config.n_fft, config.hop_length
    half = n_fft // 2
    count = min(spectrum.shape[1], -(-(length + 2 * half) // hop))
    full = np.zeros((count, n_fft // 2 + 1), dtype=np.complex64)
    full[:, : spectrum.shape[0]] = spectrum[:, :count].T
    window = hann_window(n_fft).astype(np.float32)
    frames = np.fft.irfft(full, n=n_fft, axis=1).astype(np.float32, copy=False)  # NumPy 1: float64
    frames *= window
    samples = _overlap_add(frames, hop, count)[half : half + length]
    weights = _overlap_add(window[None] ** 2, hop, count)[half : half + length]
    audio = samples / np.where(weights > np.finfo(np.float32).tiny, weights, np.float32(1.0))
    return np.pad(audio, (0, length - len(audio)))


def _overlap_add(frames: np.ndarray, hop: int, count: int) -> np.ndarray:
    """``count`` frames (the rows of ``frames``, or its one row repeated) summed ``hop`` apart:
    one vector addition per frame overlap (2 at hop = n_fft / 2), not one per frame.
    """
    n = frames.shape[1]
    overlaps = -(-n // hop)  # frames that share a sample
    if overlaps * hop > n:
        frames = np.pad(frames, ((0, 0), (0, overlaps * hop - n)))
    pieces = frames.reshape(len(frames), overlaps, hop)
    out = np.zeros((count + overlaps - 1, hop), dtype=frames.dtype)
    for k in range(overlaps):
        out[k : k + count] += pieces[:, k]
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
