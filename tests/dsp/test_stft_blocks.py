"""The STFT block processors (timbre/dsp/stft.py: Analyser, OverlapAdder): any cut of the
signal or of the frames gives the whole-array stft / istft bitwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from timbre.dsp import stft as sp
from timbre.settings import SpectrogramConfig

CONFIGS = {  # n_fft / hop: 2 (the defaults), 3 (hop does not divide n_fft), 4 overlaps
    "default": SpectrogramConfig(),
    "thirds": SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=96, n_bins=64),
    "quarters": SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=64, n_bins=64),
}
LENGTHS = [1, 77, 1023, 5000, 30001]


def cuts(total: int, rng: np.random.Generator, largest: int) -> list[tuple[int, int]]:
    """``range(total)`` cut into random pieces of 0..largest (empty pieces included)."""
    bounds, at = [], 0
    while at < total:
        size = int(rng.integers(0, largest + 1))
        bounds.append((at, min(total, at + size)))
        at += size
    return bounds


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("length", LENGTHS)
def test_analyser_in_random_blocks_equals_stft(name, length, rng):
    config = CONFIGS[name]
    audio = rng.standard_normal(length).astype(np.float32)
    analyser = sp.Analyser(config)
    parts = [analyser.feed(audio[a:b]) for a, b in cuts(length, rng, 3 * config.n_fft)]
    frames = np.concatenate(parts + [analyser.finish()], axis=1)
    expected = sp.stft(audio, config)
    assert frames.dtype == expected.dtype == np.complex64
    assert (
        frames.shape == expected.shape == (config.n_fft // 2 + 1, sp.n_frames_for(length, config))
    )
    np.testing.assert_array_equal(frames, expected)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("length", LENGTHS)
def test_overlap_adder_in_random_chunks_equals_istft(name, length, rng):
    config = CONFIGS[name]
    spectrum = sp.stft(rng.standard_normal(length).astype(np.float32), config)
    for bins, out_length in ((spectrum.shape[0], length), (config.n_bins, length + 300)):
        adder = sp.OverlapAdder(config)
        chunks = cuts(spectrum.shape[1], rng, 7)
        parts = [adder.feed(spectrum[:bins, a:b]) for a, b in chunks]
        audio = np.concatenate(parts + [adder.finish(out_length)])
        expected = sp.istft(spectrum[:bins], config, out_length)
        assert audio.dtype == expected.dtype == np.float32
        assert audio.shape == expected.shape == (out_length,)
        np.testing.assert_array_equal(audio, expected)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("length", LENGTHS)
def test_blocks_round_trip(name, length, rng):
    """Analyser blocks straight into an OverlapAdder: bitwise the whole-array round trip, and
    the signal back to float32 rounding (which the last frame's small window tail amplifies).
    """
    config = CONFIGS[name]
    audio = rng.uniform(-1, 1, length).astype(np.float32)
    analyser, adder = sp.Analyser(config), sp.OverlapAdder(config)
    parts = [adder.feed(analyser.feed(audio[a:b])) for a, b in cuts(length, rng, 2000)]
    parts += [adder.feed(analyser.finish()), adder.finish(length)]
    rebuilt = np.concatenate(parts)
    assert rebuilt.shape == audio.shape and rebuilt.dtype == np.float32
    np.testing.assert_array_equal(rebuilt, sp.istft(sp.stft(audio, config), config, length))
    assert np.linalg.norm(rebuilt - audio) <= 1e-3 * np.linalg.norm(audio)


def test_overlap_adder_gives_out_only_final_samples(rng):
    """After frame ``j``, the samples up to its start (less the padding) are final."""
    config = CONFIGS["quarters"]
    spectrum = sp.stft(rng.standard_normal(4000).astype(np.float32), config)
    adder = sp.OverlapAdder(config)
    for j in range(spectrum.shape[1]):
        adder.feed(spectrum[:, j : j + 1])
        assert adder.emitted == max(0, (j + 1) * config.hop_length - config.n_fft // 2)
