"""The export graph's stages (timbre/tf/export.py's ``_Graph``) one at a time against the NumPy
chain they port (timbre/dsp/): STFT, normalise, denormalise, tile positions, blend and inverse
STFT, at the default spectrogram settings and the tests' small ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from test_converter import SMALL, conv_generator

from timbre.dsp import stft as sp
from timbre.dsp import tiling
from timbre.dsp.tiling import TilingPlan
from timbre.settings import SpectrogramConfig
from timbre.tf.export import _Graph

TOLERANCE = 1e-4  # relative RMS error (and max abs error for values in [-1, 1])
CONFIGS = {"default": SpectrogramConfig(), "small": SMALL}


@pytest.fixture(params=sorted(CONFIGS))
def graph(request) -> _Graph:
    """The graph of a default plan, with a random convolution (offset so that clipping acts)."""
    config = CONFIGS[request.param]
    return _Graph(conv_generator(config, seed=1, offset=0.3), TilingPlan.create(config))


def _relative_rms(actual: np.ndarray, expected: np.ndarray) -> float:
    """RMS of ``actual - expected`` over the RMS of ``expected`` (real or complex)."""
    expected = np.asarray(expected, np.complex128)
    error = np.sqrt(np.mean(np.abs(np.asarray(actual, np.complex128) - expected) ** 2))
    return float(error / np.sqrt(np.mean(np.abs(expected) ** 2)))


def _audio(n_samples: int, sample_rate: int, seed: int) -> np.ndarray:
    """Seeded noise plus a 440 Hz sine, float32, peak about 0.8."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    return (0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * rng.standard_normal(n_samples)).astype(
        np.float32
    )


def _lengths(config: SpectrogramConfig) -> list[int]:
    """Audio lengths: one sample, shorter than a frame, a whole and a partial hop count."""
    hop, n_fft = config.hop_length, config.n_fft
    return [1, n_fft // 2 - 3, 40 * hop, 40 * hop + hop // 2 + 1]


def test_stft_matches_dsp_stft(graph):
    config = graph.config
    for seed, n in enumerate(_lengths(config)):
        audio = _audio(n, config.sample_rate, seed)
        re, im = (part.numpy() for part in graph.stft(tf.constant(audio)))
        expected = sp.stft(audio, config)[: config.n_bins].T  # (n_frames, n_bins)
        assert re.shape == expected.shape == im.shape
        assert _relative_rms(re + 1j * im, expected) < TOLERANCE


def test_normalise_matches_dsp_normalise(graph, rng):
    config = graph.config
    magnitude = np.concatenate(  # 0, below the floor, up to beyond full scale (clipped)
        [[0.0], 10.0 ** rng.uniform(-9, 0.5, 5000)]
    ).astype(np.float32)
    out = graph.normalise(tf.constant(magnitude)).numpy()
    expected = sp.normalise(magnitude, config)
    assert np.max(np.abs(out - expected)) < TOLERANCE
    assert _relative_rms(out, expected) < TOLERANCE


def test_denormalise_matches_dsp_denormalise(graph, rng):
    config = graph.config
    normalised = np.concatenate([[-1.0, 1.0], rng.uniform(-1.2, 1.2, 5000)]).astype(np.float32)
    out = graph.denormalise(tf.constant(normalised)).numpy()
    expected = sp.denormalise(normalised, config)
    assert _relative_rms(out, expected) < TOLERANCE
    # every value within 1e-4 relative; near silence (exp - 1 in float32 rather than expm1)
    # within 1e-4 of the magnitude floor
    floor = TOLERANCE * config.amin
    assert np.all(np.abs(out - expected) <= TOLERANCE * expected + floor)


@pytest.mark.parametrize("overlap", [None, 0, 1, 16, 31])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_tile_starts_match_dsp_tile_starts(config, overlap):
    """Every length from one frame to five tiles, at several overlaps."""
    plan = TilingPlan.create(config, overlap=overlap, context=0)
    graph = _Graph(None, plan)
    starts = tf.function(graph.tile_starts)  # one trace for all lengths
    for n_frames in range(1, 5 * config.tile_frames + 2):
        expected = tiling.tile_starts(n_frames, config.tile_frames, plan.overlap)
        np.testing.assert_array_equal(starts(tf.constant(n_frames)).numpy(), expected)


def test_blend_matches_dsp_tile_generate_blend(graph, rng):
    """Tiles cut, run through the generator (clipped to [-1, 1]) and blended with the plan's
    window, as the converter does, for shorter than a tile, one tile, and several.
    """
    config, plan = graph.config, graph.plan
    tile_frames = config.tile_frames
    for n_frames in (tile_frames // 2, tile_frames, tile_frames + 1, 3 * tile_frames + 7):
        spectrogram = rng.uniform(-1, 1, (config.n_bins, n_frames)).astype(np.float32)
        out = graph.blend(tf.constant(spectrogram.T)).numpy().T
        tiles = tiling.tile(spectrogram, tile_frames, plan.overlap)
        generated = np.clip(graph.generator(tiles[..., None], training=False), -1, 1)[..., 0]
        expected = tiling.blend(np.asarray(generated), n_frames, plan.overlap, plan.window)
        assert out.shape == expected.shape
        assert np.max(np.abs(out - expected)) < TOLERANCE
        assert _relative_rms(out, expected) < TOLERANCE


def test_istft_matches_dsp_istft(graph, rng):
    """A random spectrum of the lowest ``n_bins`` bins (the rest zero) to several lengths."""
    config = graph.config
    for n in _lengths(config):
        n_frames = sp.n_frames_for(n, config)
        shape = (config.n_bins, n_frames)
        spectrum = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(
            np.complex64
        )
        out = graph.istft(
            tf.constant(spectrum.real.T), tf.constant(spectrum.imag.T), tf.constant(n)
        ).numpy()
        expected = sp.istft(spectrum, config, n)
        assert out.shape == expected.shape == (n,)
        assert _relative_rms(out, expected) < TOLERANCE


def test_istft_inverts_stft_in_the_graph(graph):
    """The two ports together: audio -> STFT of all bins kept -> inverse, as the NumPy pair."""
    config = graph.config
    audio = _audio(40 * config.hop_length + 5, config.sample_rate, 7)
    re, im = graph.stft(tf.constant(audio))
    out = graph.istft(re, im, tf.constant(len(audio))).numpy()
    expected = sp.istft(sp.stft(audio, config)[: config.n_bins], config, len(audio))
    assert _relative_rms(out, expected) < TOLERANCE
