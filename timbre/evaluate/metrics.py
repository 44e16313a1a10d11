"""Evaluation metrics: NumPy/librosa/SciPy only, no downloaded models.

Every metric compares an ``estimate`` with a ``reference`` signal: both 1-D
audio at the same ``sample_rate`` and of the same length (a conversion is
aligned sample for sample with the true target). Each docstring gives the
formula. Conventions shared by the spectral metrics:

- STFTs are :func:`timbre.dsp.stft.stft` (centred Hann frames), by default
  ``n_fft=2048``, ``hop_length=512``; ``P = |STFT|**2`` is the power.
- Band limit ``max_hz`` (default 8000 Hz): only bins at or below it count.
  The note banks are 16 kHz recordings, so the data has no content above
  8 kHz; without the limit a model would be judged on a band where the
  reference holds nothing but rounding noise.
- Decibels never go below a floor ``FLOOR_DB`` (80 dB) under the reference's
  loudest value, for estimate and reference alike, so near-silent bins do
  not dominate a logarithmic distance.
- Active frames: frames whose in-band reference energy lies within
  ``active_db`` (default 60 dB) of the reference's loudest frame.

:data:`LOWER_IS_BETTER` and :data:`HIGHER_IS_BETTER` name the direction of
every metric key of :func:`score`; :data:`RATIOS` are best at 1
(``seam_ratio``, ``flatness_ratio``).
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
from scipy import ndimage

from timbre.dsp import stft as sp
from timbre.errors import ConfigError
from timbre.settings import SpectrogramConfig

FLOOR_DB = 80.0  # dB below the reference's peak where every decibel value is floored
N_FFT = 2048  # STFT size of the single-resolution metrics, samples
HOP_LENGTH = 512  # their hop, samples
SC_FFT_SIZES = (512, 1024, 2048)  # resolutions of the spectral convergence (hop = n_fft // 4)
FLATNESS_SMOOTH_FRAMES = 5  # frames of power averaged before the flatness (about 58 ms at 44.1 kHz)
METRICS = (
    "lsd_db",
    "sc",
    "flatness_ratio",
    "logmel_l1_db",
    "loudness_l1_db",
    "chroma_cos",
    "notes_kept",
    "seam_ratio",
)
LOWER_IS_BETTER = ("lsd_db", "sc", "logmel_l1_db", "loudness_l1_db")
HIGHER_IS_BETTER = ("chroma_cos", "notes_kept")
RATIOS = ("flatness_ratio", "seam_ratio")  # best at 1
UNITS = {
    "lsd_db": "dB",
    "sc": "",
    "flatness_ratio": "",
    "logmel_l1_db": "dB",
    "loudness_l1_db": "dB",
    "chroma_cos": "",
    "notes_kept": "",
    "seam_ratio": "",
}


def seam_ratio(audio: np.ndarray, config: SpectrogramConfig, border_frames: np.ndarray) -> float:
    """Tile-seam ratio: how much the spectrum jumps at tile borders compared with elsewhere.

    With ``S`` the normalised log-magnitude of ``audio``
    (:func:`timbre.dsp.stft.log_spectrogram`) and
    ``d[t] = mean_f |S[f, t + 1] - S[f, t]|`` the frame-to-frame change,
    the ratio is ``mean(d[b - 1] for b in borders) / mean(d[t] for all other t)``.
    About 1 means no seams; a converter that cuts and pastes tiles scores well above 1.

    Args:
        audio: shape (n_samples,) at ``config.sample_rate``.
        config: spectrogram settings.
        border_frames: frames ``b`` where a tile edge lies between frames ``b - 1`` and ``b``
            (e.g. :func:`timbre.dsp.tiling.tile_borders`).

    Returns:
        The ratio; NaN when there is no border (a single tile) or no other frame.

    Raises:
        ConfigError: a border outside ``[1, n_frames - 1]``.
    """
    spectrogram, _ = sp.log_spectrogram(audio, config)
    change = np.mean(np.abs(np.diff(spectrogram, axis=1)), axis=0)
    borders = np.asarray(border_frames, dtype=np.int64)
    if borders.size and (borders.min() < 1 or borders.max() > len(change)):
        raise ConfigError(
            f"border_frames: values must lie in [1, {len(change)}] for {len(change) + 1} frames"
        )
    at_border = np.zeros(len(change), dtype=bool)
    at_border[borders - 1] = True
    if not at_border.any() or at_border.all():
        return float("nan")
    return float(np.mean(change[at_border]) / max(np.mean(change[~at_border]), 1e-12))


def _check_pair(
    estimate: np.ndarray, reference: np.ndarray, sample_rate: int, max_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    estimate, reference = (
        np.asarray(estimate, dtype=np.float32),
        np.asarray(reference, dtype=np.float32),
    )
    if reference.ndim != 1 or reference.size == 0:
        raise ConfigError(f"reference: shape {reference.shape} (expected a non-empty 1-D array)")
    if estimate.shape != reference.shape:
        raise ConfigError(
            f"estimate: shape {estimate.shape} (expected {reference.shape}, the reference's; "
            "align and trim the signals first)"
        )
    if not (np.all(np.isfinite(estimate)) and np.all(np.isfinite(reference))):
        raise ConfigError("estimate/reference: non-finite samples (NaN or inf)")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer")
    if max_hz is not None and not max_hz > 0:
        raise ConfigError(f"max_hz={max_hz!r} must be positive")
    return estimate, reference


def _power(
    audio: np.ndarray, sample_rate: int, n_fft: int, hop_length: int, max_hz: float | None
) -> np.ndarray:
    """Power spectrogram of the bins at or below ``max_hz`` (all if None).

    Returns:
        Shape (n_bins, n_frames).
    """
    n_bins = (
        n_fft // 2 + 1
        if max_hz is None
        else min(int(max_hz * n_fft / sample_rate) + 1, n_fft // 2 + 1)
    )
    config = SpectrogramConfig(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_bins=n_bins, tile_frames=1
    )
    return np.abs(sp.stft(audio, config)[:n_bins]).astype(np.float64) ** 2


def _db(power: np.ndarray, reference_peak: float) -> np.ndarray:
    """``10 log10(max(power, reference_peak * 10**(-FLOOR_DB / 10)))``."""
    floor = max(reference_peak, 1e-30) * 10.0 ** (-FLOOR_DB / 10.0)
    return 10.0 * np.log10(np.maximum(power, floor))


def _active_frames(frame_energy: np.ndarray, active_db: float) -> np.ndarray:
    """Boolean mask of frames within ``active_db`` of the loudest (none if all are silent)."""
    peak = float(np.max(frame_energy))
    if peak <= 0.0:
        warnings.warn("reference: silent (no active frame); the metric is NaN", stacklevel=3)
        return np.zeros(frame_energy.shape, dtype=bool)
    return frame_energy >= peak * 10.0 ** (-active_db / 10.0)


def log_spectral_distance(
    estimate: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    active_db: float = 60.0,
) -> float:
    """Log-spectral distance in dB, band-limited, over the reference's active frames.

    ``D[f, t] = 10 log10 P_est[f, t] - 10 log10 P_ref[f, t]`` (floored, see the
    module docstring) over bins ``f`` at or below ``max_hz``;
    ``LSD = mean over active t of sqrt(mean_f D[f, t]**2)``. A gain ``g``
    applied to the reference gives ``|20 log10 g|`` (0.5: 6.02 dB).

    Args:
        estimate: shape (n_samples,), e.g. a conversion.
        reference: shape (n_samples,), the true target.
        sample_rate: of both, Hz.
        max_hz: upper edge of the band compared, Hz.
        active_db: frames whose in-band reference energy is more than this
            below the loudest frame are left out.

    Returns:
        The distance in dB (0 for identical signals); NaN for a silent reference (warns).

    Raises:
        ConfigError: shapes differ, empty or non-finite audio, bad rate or band.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate, max_hz)
    ref_power = _power(reference, sample_rate, N_FFT, HOP_LENGTH, max_hz)
    est_power = _power(estimate, sample_rate, N_FFT, HOP_LENGTH, max_hz)
    active = _active_frames(ref_power.sum(axis=0), active_db)
    if not active.any():
        return float("nan")
    peak = float(ref_power.max())
    difference = _db(est_power[:, active], peak) - _db(ref_power[:, active], peak)
    return float(np.mean(np.sqrt(np.mean(difference**2, axis=0))))


def spectral_convergence(
    estimate: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    fft_sizes: tuple[int, ...] = SC_FFT_SIZES,
) -> float:
    """Multi-resolution spectral convergence, band-limited.

    For each ``n_fft`` in ``fft_sizes`` (hop ``n_fft // 4``), with ``M`` the STFT
    magnitude of the bins at or below ``max_hz``:
    ``SC_n = ||M_est - M_ref||_F / ||M_ref||_F``
    (:func:`timbre.dsp.stft.magnitude_error`); the result is the mean
    over resolutions. 0 for identical signals; a gain ``g`` gives ``|1 - g|``
    (0.5: 0.5); a silent estimate gives 1.

    Args:
        estimate, reference, sample_rate, max_hz: as :func:`log_spectral_distance`.
        fft_sizes: the resolutions, samples.

    Returns:
        The mean spectral convergence (unitless).

    Raises:
        ConfigError: as :func:`log_spectral_distance`; an empty ``fft_sizes``.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate, max_hz)
    if not fft_sizes or any(int(n) <= 0 for n in fft_sizes):
        raise ConfigError(f"fft_sizes={fft_sizes!r} (expected one or more positive FFT sizes)")
    values = []
    for n_fft in fft_sizes:
        n_bins = min(int(max_hz * n_fft / sample_rate) + 1, n_fft // 2 + 1)
        config = SpectrogramConfig(
            sample_rate=sample_rate,
            n_fft=int(n_fft),
            hop_length=max(int(n_fft) // 4, 1),
            n_bins=n_bins,
            tile_frames=1,
        )
        magnitude = np.abs(sp.stft(reference, config)[:n_bins])
        values.append(sp.magnitude_error(estimate, magnitude, config))
    return float(np.mean(values))


def spectral_flatness(
    audio: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    frames: np.ndarray | None = None,
    peak_power: float | None = None,
) -> float:
    """Mean spectral flatness of ``audio`` over ``frames``: how much noise fills the spectrum.

    With ``P`` the in-band power (bins 1 to ``max_hz``; DC left out), averaged over
    :data:`FLATNESS_SMOOTH_FRAMES` neighbouring frames (so a noise's random dips do not
    count as structure) and floored at ``FLOOR_DB`` below ``peak_power``, the flatness of a
    frame is ``exp(mean_f log P[f, t]) / mean_f P[f, t]`` (geometric over arithmetic
    mean, Wiener entropy): about 0.9 for white noise, near 0 for a harmonic tone whose
    partials stand out of dark valleys. The result is the mean over ``frames``.

    Args:
        audio: shape (n_samples,).
        sample_rate, max_hz: as :func:`log_spectral_distance`.
        frames: boolean mask of the frames averaged (default: all).
        peak_power: the floor's reference (default: the audio's own peak power).

    Returns:
        The mean flatness in (0, 1]; NaN when ``frames`` selects none.
    """
    power = _power(np.asarray(audio, dtype=np.float32), sample_rate, N_FFT, HOP_LENGTH, max_hz)
    power = ndimage.uniform_filter1d(power[1:], FLATNESS_SMOOTH_FRAMES, axis=1, mode="nearest")
    peak = float(power.max()) if peak_power is None else peak_power
    power = np.maximum(power, max(peak, 1e-30) * 10.0 ** (-FLOOR_DB / 10.0))
    flatness = np.exp(np.mean(np.log(power), axis=0)) / np.mean(power, axis=0)
    selected = flatness if frames is None else flatness[frames[: len(flatness)]]
    return float(np.mean(selected)) if selected.size else float("nan")


def flatness_ratio(
    estimate: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    active_db: float = 60.0,
) -> float:
    """Spectral flatness of the estimate over the reference's: the haze between harmonics.

    ``flatness(estimate) / flatness(reference)`` (:func:`spectral_flatness`), both over the
    reference's active frames, each floored at ``FLOOR_DB`` below its own peak (so a gain
    changes nothing). 1 for identical signals; above 1 the estimate is noisier (fills the
    valleys between the partials that the reference keeps dark), below 1 it is sparser.

    Args:
        estimate, reference, sample_rate, max_hz, active_db: as :func:`log_spectral_distance`.

    Returns:
        The ratio (best at 1); NaN for a silent reference (warns).

    Raises:
        ConfigError: as :func:`log_spectral_distance`.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate, max_hz)
    ref_power = _power(reference, sample_rate, N_FFT, HOP_LENGTH, max_hz)
    active = _active_frames(ref_power.sum(axis=0), active_db)
    if not active.any():
        return float("nan")
    ref_flatness = spectral_flatness(reference, sample_rate, max_hz, active)
    return spectral_flatness(estimate, sample_rate, max_hz, active) / ref_flatness


def logmel_l1(
    estimate: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    n_mels: int = 64,
) -> float:
    """Mean absolute difference of log-mel power spectrograms, in dB.

    ``L = 10 log10(mel @ P)`` with a Slaney mel filterbank of ``n_mels`` bands
    from 0 to ``max_hz`` (librosa), floored at ``FLOOR_DB`` below the
    reference's peak band; the result is ``mean_{m, t} |L_est - L_ref|`` over
    all frames (silences count: noise where the reference is silent is an
    error). A gain ``g`` gives ``|20 log10 g|`` (0.5: 6.02 dB).

    Args:
        estimate, reference, sample_rate, max_hz: as :func:`log_spectral_distance`.
        n_mels: mel bands.

    Returns:
        The distance in dB (0 for identical signals).

    Raises:
        ConfigError: as :func:`log_spectral_distance`.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate, max_hz)
    bank = librosa.filters.mel(
        sr=sample_rate, n_fft=N_FFT, n_mels=n_mels, fmin=0.0, fmax=min(max_hz, sample_rate / 2)
    )
    ref_mel = bank @ _power(reference, sample_rate, N_FFT, HOP_LENGTH, None)
    est_mel = bank @ _power(estimate, sample_rate, N_FFT, HOP_LENGTH, None)
    peak = float(ref_mel.max())
    return float(np.mean(np.abs(_db(est_mel, peak) - _db(ref_mel, peak))))


def loudness_l1(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of A-weighted frame loudness, in dB.

    Per frame ``t``: ``L[t] = 10 log10(sum_f 10**(A(f) / 10) P[f, t])`` over all
    bins, with ``A(f)`` the A-weighting curve in dB (:func:`librosa.A_weighting`),
    floored at ``FLOOR_DB`` below the reference's loudest frame; the result is
    ``mean_t |L_est[t] - L_ref[t]|`` over all frames. A gain ``g`` gives
    ``|20 log10 g|`` (0.5: 6.02 dB). Full band: A-weighting is the perceptual
    band limit.

    Args:
        estimate, reference, sample_rate: as :func:`log_spectral_distance`.

    Returns:
        The distance in dB (0 for identical signals).

    Raises:
        ConfigError: as :func:`log_spectral_distance`.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate)
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    with np.errstate(divide="ignore"):  # the DC bin: log10(0), floored at min_db
        weights = 10.0 ** (librosa.A_weighting(frequencies, min_db=-100.0) / 10.0)
    ref_loudness = weights @ _power(reference, sample_rate, N_FFT, HOP_LENGTH, None)
    est_loudness = weights @ _power(estimate, sample_rate, N_FFT, HOP_LENGTH, None)
    peak = float(ref_loudness.max())
    return float(np.mean(np.abs(_db(est_loudness, peak) - _db(ref_loudness, peak))))


def chroma_cosine(
    estimate: np.ndarray, reference: np.ndarray, sample_rate: int, active_db: float = 60.0
) -> float:
    """CQT-chroma cosine similarity: are the same pitch classes sounding?

    ``C`` is :func:`librosa.feature.chroma_cqt` (12 pitch classes per frame,
    hop 512); per frame ``cos[t] = <C_est[:, t], C_ref[:, t]> / (|C_est[:, t]| |C_ref[:, t]|)``
    (0 where the estimate's chroma is all zero); the result is the mean over
    the reference's active frames (full-band energy within ``active_db`` of the
    loudest frame). 1 for identical signals, independent of gain and of the
    octave (a sine and its octave score about 1; a tritone about 0).

    Args:
        estimate, reference, sample_rate, active_db: as :func:`log_spectral_distance`.

    Returns:
        The similarity in [0, 1]; NaN for a silent reference (warns).

    Raises:
        ConfigError: as :func:`log_spectral_distance`.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate)
    ref_chroma = _chroma(reference, sample_rate)
    est_chroma = _chroma(estimate, sample_rate)
    energy = _power(reference, sample_rate, N_FFT, HOP_LENGTH, None).sum(axis=0)
    n_frames = min(ref_chroma.shape[1], est_chroma.shape[1], len(energy))
    active = _active_frames(energy[:n_frames], active_db)
    if not active.any():
        return float("nan")
    ref_chroma, est_chroma = (
        ref_chroma[:, :n_frames][:, active],
        est_chroma[:, :n_frames][:, active],
    )
    dot = np.sum(ref_chroma * est_chroma, axis=0)
    norms = np.linalg.norm(ref_chroma, axis=0) * np.linalg.norm(est_chroma, axis=0)
    cosine = np.where(norms > 0, dot / np.maximum(norms, 1e-30), 0.0)
    return float(np.clip(np.mean(cosine), 0.0, 1.0))  # clip: float rounding of identical frames


def _chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """CQT chroma (12, n_frames), each frame scaled to unit maximum (librosa's default)."""
    with warnings.catch_warnings():  # short signals: librosa warns about its own padding
        warnings.simplefilter("ignore", UserWarning)
        return librosa.feature.chroma_cqt(y=audio, sr=sample_rate, hop_length=HOP_LENGTH)


def score(
    estimate: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    max_hz: float = 8000.0,
    spectrogram: SpectrogramConfig | None = None,
    border_frames: np.ndarray | None = None,
    notes_kept: float = float("nan"),
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one (estimate, reference) pair.

    Args:
        estimate, reference, sample_rate, max_hz: as :func:`log_spectral_distance`.
        spectrogram: settings for ``seam_ratio`` (its ``sample_rate`` must equal ``sample_rate``).
        border_frames: tile borders for ``seam_ratio`` (see :func:`seam_ratio`);
            ``seam_ratio`` is NaN unless both this and ``spectrogram`` are given.
        notes_kept: the note F1 of the estimate against its input, which the caller
            transcribes (:mod:`timbre.evaluate.notes`); passed through (NaN: not measured).

    Returns:
        ``{metric: value}`` in the order of :data:`METRICS`.

    Raises:
        ConfigError: as :func:`log_spectral_distance`; a ``spectrogram`` at another rate.
    """
    estimate, reference = _check_pair(estimate, reference, sample_rate, max_hz)
    if spectrogram is not None and spectrogram.sample_rate != sample_rate:
        raise ConfigError(
            f"spectrogram: sample_rate={spectrogram.sample_rate} (expected {sample_rate}, the "
            "audio's)"
        )
    seams = float("nan")
    if spectrogram is not None and border_frames is not None:
        seams = seam_ratio(estimate, spectrogram, border_frames)
    return {
        "lsd_db": log_spectral_distance(estimate, reference, sample_rate, max_hz),
        "sc": spectral_convergence(estimate, reference, sample_rate, max_hz),
        "flatness_ratio": flatness_ratio(estimate, reference, sample_rate, max_hz),
        "logmel_l1_db": logmel_l1(estimate, reference, sample_rate, max_hz),
        "loudness_l1_db": loudness_l1(estimate, reference, sample_rate),
        "chroma_cos": chroma_cosine(estimate, reference, sample_rate),
        "notes_kept": float(notes_kept),
        "seam_ratio": seams,
    }
