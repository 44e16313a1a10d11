"""What a real recording adds to a clean rendering, from well-kept libraries, seeded per piece.

The test pieces (and, later, training's origin part) are SoundFont renderings:
dry, full band, noiseless. A user's piano reaches the converter through a room,
a microphone, a noise floor, a band limit and often a lossy file. The chain, in
that order:

1. a room: a shoebox's impulse response by the image-source method
   (``pyroomacoustics``: :func:`pyroomacoustics.inverse_sabine` turns the drawn RT60
   and size into wall absorption and reflection order), source and microphone at
   drawn positions. The direct sound's delay is taken off again (the output starts
   where the direct path arrives), so the recording stays aligned sample for sample
   with the target;
2. a microphone's colouring: a low shelf, a presence peak and a high shelf
   (``pedalboard``'s LowShelfFilter, PeakFilter, HighShelfFilter);
3. a noise floor: white Gaussian noise at a drawn signal-to-noise ratio (against the
   room signal's RMS);
4. a band limit: resampled to a drawn lower rate and back (``pedalboard.Resample``),
   skipped when the audio's rate is not above it;
5. lossy coding: MP3 at a drawn VBR quality (``pedalboard.MP3Compressor``, LAME).

Every parameter is drawn in :class:`RecordingConfig`'s ranges from the seed and the
piece's name alone (:func:`draw`), and a :class:`Recording` records what a piece
got. The level is brought back to the dry signal's peak after the room (conversion
and scoring are level-invariant; this only keeps the coder away from clipping).
Both libraries belong to the ``[evaluate]`` extra; ``pedalboard`` is GPL-3.0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from timbre.errors import ConfigError, MissingExtraError

LOW_SHELF_HZ = 150.0  # corner of the microphone's low shelf
HIGH_SHELF_HZ = 6000.0  # corner of its high shelf
PRESENCE_Q = 1.0  # quality factor of its presence peak
MAX_ORDER = 40  # reflection order cap of the image-source method (time grows as its cube)
WALL_MARGIN_M = 0.5  # the source stays this far from every wall
MIC_MARGIN_M = (
    1.0  # the microphone this far (not at a wall, whose reflection rivals the direct sound)
)
Range = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class RecordingConfig:
    """Ranges each piece's recording is drawn from (uniformly; recorded in ``results.json``)."""

    room_m: tuple[Range, Range, Range] = ((4.0, 10.0), (3.0, 8.0), (2.5, 4.0))  # L, W, H, m
    rt60_s: Range = (0.25, 0.9)  # reverberation time, s
    distance_m: Range = (0.7, 3.0)  # source to microphone, m
    low_shelf_db: Range = (-6.0, 6.0)  # gain of the low shelf at LOW_SHELF_HZ, dB
    presence_hz: Range = (1500.0, 5000.0)  # centre of the presence peak, Hz
    presence_db: Range = (-6.0, 6.0)  # its gain, dB
    high_shelf_db: Range = (-9.0, 3.0)  # gain of the high shelf at HIGH_SHELF_HZ, dB
    snr_db: Range = (25.0, 45.0)  # noise floor, dB below the signal's RMS
    band_rates: tuple[int, ...] = (16000, 22050)  # the band limit: one rate drawn, Hz
    mp3_quality: Range = (2.0, 6.0)  # LAME VBR quality (0 best, 9.999 worst)

    def __post_init__(self) -> None:
        ranges = {
            "rt60_s": self.rt60_s,
            "distance_m": self.distance_m,
            "low_shelf_db": self.low_shelf_db,
            "presence_hz": self.presence_hz,
            "presence_db": self.presence_db,
            "high_shelf_db": self.high_shelf_db,
            "snr_db": self.snr_db,
            "mp3_quality": self.mp3_quality,
            **{f"room_m[{i}]": r for i, r in enumerate(self.room_m)},
        }
        for name, (low, high) in ranges.items():
            if not low <= high:
                raise ConfigError(f"RecordingConfig: {name}=({low}, {high}) (expected low <= high)")
        positive = ("rt60_s", "distance_m", "presence_hz", "room_m[0]", "room_m[1]", "room_m[2]")
        for name in positive:
            if not ranges[name][0] > 0:
                raise ConfigError(f"RecordingConfig: {name}={ranges[name]} must be positive")
        if not (0.0 <= self.mp3_quality[0] and self.mp3_quality[1] < 10.0):
            raise ConfigError(
                f"RecordingConfig: mp3_quality={self.mp3_quality} (expected within [0, 10))"
            )
        if not self.band_rates or any(int(r) < 8000 for r in self.band_rates):
            raise ConfigError(
                f"RecordingConfig: band_rates={self.band_rates} (expected one or more rates "
                ">= 8000 Hz)"
            )
        if min(r[0] for r in self.room_m) <= 2 * MIC_MARGIN_M:
            raise ConfigError(
                f"RecordingConfig: room_m={self.room_m} (every side must exceed "
                f"{2 * MIC_MARGIN_M} m)"
            )


@dataclasses.dataclass(frozen=True)
class Recording:
    """What one piece got (see the module docstring for each step)."""

    room_m: tuple[float, float, float]
    rt60_s: float
    source_m: tuple[float, float, float]
    microphone_m: tuple[float, float, float]
    low_shelf_db: float
    presence_hz: float
    presence_db: float
    high_shelf_db: float
    snr_db: float
    band_rate: int
    mp3_quality: float
    noise_seed: int

    def to_dict(self) -> dict:
        return {
            key: (
                [round(v, 3) for v in value]
                if isinstance(value, tuple)
                else round(value, 3)
                if isinstance(value, float)
                else value
            )
            for key, value in dataclasses.asdict(self).items()
        }


DEFAULT_RECORDING = RecordingConfig()  # the ranges the "recorded" condition draws from


def draw(config: RecordingConfig, piece: str, seed: int) -> Recording:
    """The recording of ``piece``: a function of the ranges, ``seed`` and the name only."""
    digest = int(hashlib.sha1(f"recorded:{piece}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng([seed, digest])
    room = tuple(float(rng.uniform(*side)) for side in config.room_m)
    low, high = np.full(3, WALL_MARGIN_M), np.asarray(room) - WALL_MARGIN_M
    source = rng.uniform(low, high)
    source[2] = min(max(rng.uniform(0.8, 1.5), low[2]), high[2])  # a piano's height
    distance = rng.uniform(*config.distance_m)
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0, math.pi / 6)
    direction = np.array(
        [
            math.cos(azimuth) * math.cos(elevation),
            math.sin(azimuth) * math.cos(elevation),
            math.sin(elevation),
        ]
    )
    inner = np.asarray([MIC_MARGIN_M, MIC_MARGIN_M, WALL_MARGIN_M])
    # a wall may bring it closer than drawn
    microphone = np.clip(source + distance * direction, inner, np.asarray(room) - inner)
    return Recording(
        room_m=room,
        rt60_s=float(rng.uniform(*config.rt60_s)),
        source_m=tuple(float(v) for v in source),
        microphone_m=tuple(float(v) for v in microphone),
        low_shelf_db=float(rng.uniform(*config.low_shelf_db)),
        presence_hz=float(rng.uniform(*config.presence_hz)),
        presence_db=float(rng.uniform(*config.presence_db)),
        high_shelf_db=float(rng.uniform(*config.high_shelf_db)),
        snr_db=float(rng.uniform(*config.snr_db)),
        band_rate=int(config.band_rates[int(rng.integers(len(config.band_rates)))]),
        mp3_quality=float(rng.uniform(*config.mp3_quality)),
        noise_seed=int(rng.integers(2**31)),
    )


def apply(samples: np.ndarray, sample_rate: int, recording: Recording) -> np.ndarray:
    """Play a mono signal through ``recording``: same length, aligned, float32.

    Args:
        samples: shape (n_samples,), a dry rendering.
        sample_rate: its rate, Hz.
        recording: what to add (:func:`draw`).

    Returns:
        Shape (n_samples,), float32.

    Raises:
        MissingExtraError: ``pyroomacoustics`` or ``pedalboard`` is not installed.
        ConfigError: not a 1-D signal.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ConfigError(f"samples: shape {samples.shape} (expected a 1-D mono signal)")
    pedalboard = _import("pedalboard")
    if samples.size == 0:
        return samples
    out = room(samples, sample_rate, recording)
    peak, dry_peak = float(np.max(np.abs(out))), float(np.max(np.abs(samples)))
    if peak > 0.0:
        out = out * (dry_peak / peak)
    microphone = pedalboard.Pedalboard(
        [
            pedalboard.LowShelfFilter(LOW_SHELF_HZ, recording.low_shelf_db),
            pedalboard.PeakFilter(recording.presence_hz, recording.presence_db, PRESENCE_Q),
            pedalboard.HighShelfFilter(
                min(HIGH_SHELF_HZ, 0.45 * sample_rate), recording.high_shelf_db
            ),
        ]
    )
    out = microphone(out[None].astype(np.float32), sample_rate)[0]
    rms = float(np.sqrt(np.mean(np.square(out, dtype=np.float64))))
    rng = np.random.default_rng(recording.noise_seed)
    out = out + rng.standard_normal(out.size) * (rms * 10 ** (-recording.snr_db / 20))
    out = out * min(1.0, 0.99 / max(float(np.max(np.abs(out))), 1e-12))  # no clipping in coding
    out = out[None].astype(np.float32)
    if recording.band_rate < sample_rate:
        out = pedalboard.Resample(float(recording.band_rate))(out, sample_rate)
    # one plugin per call: chained after Resample in one board, the coder comes back late
    out = pedalboard.MP3Compressor(recording.mp3_quality)(out, sample_rate)[0]
    return np.ascontiguousarray(out[: samples.size], dtype=np.float32)


def room(samples: np.ndarray, sample_rate: int, recording: Recording) -> np.ndarray:
    """``samples`` through the room's impulse response, its direct-path delay taken off.

    Returns:
        Shape (n_samples,), float64, the direct sound where the dry sound was.

    Raises:
        ConfigError: the room cannot reach the RT60 (pyroomacoustics' inverse Sabine fails).
    """
    pyroomacoustics = _import("pyroomacoustics")
    from scipy import signal

    response = impulse_response(sample_rate, recording, pyroomacoustics)
    delay = direct_delay(sample_rate, recording, pyroomacoustics)
    wet = signal.fftconvolve(samples.astype(np.float64), response)
    return wet[delay : delay + samples.size]


def direct_delay(sample_rate: int, recording: Recording, pyroomacoustics=None) -> int:
    """Samples from the impulse response's start to its direct path: the distance's travel
    time plus the half-length of pyroomacoustics' fractional-delay filter."""
    pra = pyroomacoustics or _import("pyroomacoustics")
    distance = math.dist(recording.source_m, recording.microphone_m)
    travel = distance / pra.constants.get("c") * sample_rate
    return int(round(travel)) + pra.constants.get("frac_delay_length") // 2


def impulse_response(sample_rate: int, recording: Recording, pyroomacoustics=None) -> np.ndarray:
    """The room's impulse response from source to microphone (image-source method).

    Returns:
        Shape (n_taps,), float64, including the direct path's delay.
    """
    pra = pyroomacoustics or _import("pyroomacoustics")
    try:
        absorption, order = pra.inverse_sabine(recording.rt60_s, list(recording.room_m))
    except ValueError as e:
        raise ConfigError(
            f"recording: a {recording.room_m} m room cannot have RT60 {recording.rt60_s:.2f} s "
            f"({e}); choose a smaller room or a longer rt60_s"
        ) from e
    shoebox = pra.ShoeBox(
        list(recording.room_m),
        fs=sample_rate,
        materials=pra.Material(absorption),
        max_order=min(order, MAX_ORDER),
    )
    shoebox.add_source(list(recording.source_m))
    shoebox.add_microphone(list(recording.microphone_m))
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float64)


def record(
    samples: np.ndarray,
    sample_rate: int,
    piece: str,
    seed: int = 0,
    config: RecordingConfig = DEFAULT_RECORDING,
) -> tuple[np.ndarray, Recording]:
    """:func:`draw` then :func:`apply`: the piece as recorded, and what it got."""
    recording = draw(config, piece, seed)
    return apply(samples, sample_rate, recording), recording


def require() -> None:
    """Fail early, before any work, when a library of the chain is missing.

    Raises:
        MissingExtraError: ``pyroomacoustics`` or ``pedalboard`` is not installed.
    """
    for module in ("pyroomacoustics", "pedalboard"):
        _import(module)


def _import(module: str):
    """``module`` (a library of the chain), or :class:`MissingExtraError` naming its extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = MissingExtraError.from_import_error(e, "the 'recorded' condition")
        if missing is None:
            raise
        raise missing from e
