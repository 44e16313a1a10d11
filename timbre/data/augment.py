"""Augmentation of the origin part: what a real recording brings, seeded per piece.

A user's piano was recorded in a room, through a microphone, over some noise;
the SoundFont pianos are dry and clean. Each piece's origin part (the pooled
instruments: :mod:`timbre.data.sources`) gets, drawn from the seed and the
piece's name:

- an EQ tilt: a gain that rises or falls linearly in dB per octave around
  1 kHz (a brighter or duller microphone), limited to +-12 dB;
- with probability ``reverb_probability``, room reverberation: the dry signal
  plus an exponentially decaying noise tail (RT60 drawn in ``rt60_s``) mixed at
  a wet/dry ratio drawn in ``wet``; the direct sound stays where it was, so the
  pair stays aligned with the target;
- white noise at a signal-to-noise ratio drawn in ``snr_db`` (against the
  signal's RMS).

With ``chain="recorded"`` a piece instead goes through the chain of the ``recorded``
evaluation condition (:mod:`timbre.data.recorded`: a simulated room from
``pyroomacoustics``, a microphone's EQ, noise, a band limit and MP3 from
``pedalboard``), drawn in its default ranges under a name of its own
(``augment:<piece>``), so a training piece never shares a test piece's recording.
With either chain, ``probability`` is the share of pieces augmented at all: the
others stay clean, and the model keeps converting clean input.

The level is not augmented: conversion brings every input to the training
level first (:mod:`timbre.convert.converter`), and a trial with random
levels per piece made validation jump from epoch to epoch. The target part is
never touched: the model must learn one clean target sound.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from scipy import signal

from timbre.data import recorded
from timbre.settings import AugmentConfig

PIVOT_HZ = 1000.0  # the EQ tilt's 0 dB point
MAX_TILT_DB = 12.0  # the tilt's gain never exceeds +-12 dB at any frequency


@dataclasses.dataclass(frozen=True)
class Draw:
    """What one piece got (recorded in the audio manifest)."""

    tilt_db_per_octave: float
    rt60_s: float | None  # None: no reverberation
    wet: float
    snr_db: float | None  # None: no noise
    noise_seed: int  # seeds the reverberation tail and the noise

    def to_dict(self) -> dict[str, float | None]:
        return {
            k: (None if v is None else round(v, 4)) for k, v in dataclasses.asdict(self).items()
        }


Augmentation = Draw | recorded.Recording  # what :func:`draw` gives a piece that is augmented


def draw(config: AugmentConfig, piece: str, seed: int) -> Augmentation | None:
    """The augmentation of ``piece``: a function of the settings, ``seed`` and the name only.

    Returns:
        A :class:`Draw` (``chain="simple"``), a :class:`timbre.data.recorded.Recording`
        (``chain="recorded"``), or None: the piece stays clean (``probability``).
    """
    digest = int(hashlib.sha1(f"augment:{piece}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng([seed, digest])
    # at probability 1 no number is drawn: the draws of earlier corpora stay as they were
    if config.probability < 1.0 and not rng.random() < config.probability:
        return None
    if config.chain == "recorded":
        return recorded.draw(recorded.DEFAULT_RECORDING, f"augment:{piece}", seed)
    tilt = float(rng.uniform(-config.tilt_db_per_octave, config.tilt_db_per_octave))
    reverb = bool(rng.random() < config.reverb_probability)
    rt60 = float(rng.uniform(*config.rt60_s))
    wet = float(rng.uniform(*config.wet))
    snr = float(rng.uniform(*config.snr_db))
    noise_seed = int(rng.integers(2**31))
    return Draw(
        tilt,
        rt60 if reverb else None,
        wet if reverb else 0.0,
        snr if config.noise else None,
        noise_seed,
    )


def apply(samples: np.ndarray, sample_rate: int, piece: Augmentation | None) -> np.ndarray:
    """Augment a mono float32 signal as ``piece`` says (:func:`draw`); same length, float32."""
    if piece is None:
        return np.asarray(samples, dtype=np.float32)
    if isinstance(piece, recorded.Recording):
        return recorded.apply(samples, sample_rate, piece)
    rng = np.random.default_rng(piece.noise_seed)
    out = tilt(samples, sample_rate, piece.tilt_db_per_octave)
    if piece.rt60_s is not None:
        out = reverberate(out, sample_rate, piece.rt60_s, piece.wet, rng)
    if piece.snr_db is not None:
        rms = float(np.sqrt(np.mean(np.square(out, dtype=np.float64)))) if out.size else 0.0
        out = out + rng.standard_normal(out.size).astype(np.float32) * (
            rms * 10 ** (-piece.snr_db / 20)
        )
    return out.astype(np.float32)


def require(config: AugmentConfig) -> None:
    """Fail before any work when ``config``'s chain needs a library that is not installed.

    Raises:
        MissingExtraError: ``chain="recorded"`` without ``pyroomacoustics`` or ``pedalboard``.
    """
    if config.chain == "recorded":
        recorded.require()


def to_dict(piece: Augmentation | None) -> dict | None:
    """What ``piece`` got, for the audio manifest (None: the piece stayed clean)."""
    return None if piece is None else piece.to_dict()


def tilt(samples: np.ndarray, sample_rate: int, db_per_octave: float) -> np.ndarray:
    """A linear-in-octaves EQ tilt around :data:`PIVOT_HZ`, applied in the frequency domain."""
    if samples.size == 0 or db_per_octave == 0.0:
        return samples.astype(np.float32)
    spectrum = np.fft.rfft(samples.astype(np.float64))
    freqs = np.fft.rfftfreq(samples.size, 1.0 / sample_rate)
    octaves = np.log2(np.maximum(freqs, 20.0) / PIVOT_HZ)
    gain_db = np.clip(db_per_octave * octaves, -MAX_TILT_DB, MAX_TILT_DB)
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), n=samples.size).astype(np.float32)


def reverberate(
    samples: np.ndarray, sample_rate: int, rt60_s: float, wet: float, rng: np.random.Generator
) -> np.ndarray:
    """Dry signal plus ``wet`` times a decaying-noise room tail (RT60 ``rt60_s``), same length.

    The tail's impulse response has the dry signal's RMS gain (unit energy), so
    ``wet`` is the ratio of reverberant to direct energy in amplitude.
    """
    n = max(1, int(rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    response = rng.standard_normal(n) * 10 ** (-3.0 * t / rt60_s)  # -60 dB at rt60_s
    response = signal.lfilter([0.5, 0.5], [1.0], response)  # a little duller than white
    response /= np.sqrt(np.sum(response**2))
    tail = signal.fftconvolve(samples.astype(np.float64), response)[: samples.size]
    return (samples + wet * tail).astype(np.float32)
