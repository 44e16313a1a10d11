"""Streaming conversion (timbre/convert/streaming.py): the block-by-block twin of the whole-file
path, given only a generate callable and a TilingPlan.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    SMALL,
    conv_generator,
    edge_ratio,
    excerpt,
    identity_generator,
    melody,
    relative_error,
    residual_generator,
)

from timbre.convert.converter import Converter
from timbre.convert.streaming import StreamingConversion
from timbre.dsp import edges, tiling
from timbre.dsp import phase as dsp_phase
from timbre.dsp import stft as sp
from timbre.dsp.tiling import TilingPlan
from timbre.errors import ConfigError
from timbre.settings import ModelConfig


def stream(converter: Converter, audio: np.ndarray, block: int, keep_frames: int = 0):
    """``audio`` through a StreamingConversion in blocks of ``block``; (output, the stream)."""
    conversion = StreamingConversion(converter.generate, converter.plan, keep_frames)
    parts = [conversion.feed(audio[i : i + block]) for i in range(0, len(audio), block)]
    return np.concatenate(parts + [conversion.finish()]), conversion


@pytest.fixture(scope="module")
def small():
    return SMALL


@pytest.mark.parametrize("seconds,block", [(0.05, 100), (7.3, 1000), (7.3, 5000), (20.0, 40000)])
def test_streaming_equals_whole_file(small, seconds, block):
    converter = Converter(conv_generator(small, seed=3), small, batch_size=3)
    audio = melody(seconds, small.sample_rate, seed=5)
    chunked, _ = stream(converter, audio, block)
    assert chunked.shape == audio.shape
    np.testing.assert_allclose(chunked, converter.convert_unmatched(audio), atol=2e-5)


@pytest.mark.parametrize("block", [37, 1000, 1 << 18])
def test_streaming_equals_whole_file_for_every_length_remainder(small, block):
    """Lengths 0..127 modulo the hop, blocks shorter than the edge padding and longer than the
    file: the streamed edges are the whole file's edges.
    """
    converter = Converter(residual_generator(small, "conv"), small, batch_size=3)
    base = small.sample_rate // small.hop_length * small.hop_length  # 1 s of whole hops
    for remainder in range(0, small.hop_length, 1 if block == 1000 else 9):
        audio = excerpt(base + remainder, small.sample_rate, seed=remainder)
        chunked, _ = stream(converter, audio, block)
        assert chunked.shape == audio.shape, remainder
        np.testing.assert_allclose(chunked, converter.convert_unmatched(audio), atol=2e-5)


@pytest.mark.parametrize("name", ["identity", "conv", "unet"])
@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_streamed_edges_are_like_the_middle(small, name, phase, monkeypatch):
    """Streaming (Griffin-Lim in segments, so not equal to the whole file): no edge artefact at
    any length remainder either.
    """
    monkeypatch.setattr(dsp_phase, "GL_SEGMENT_FRAMES", 64)
    monkeypatch.setattr(dsp_phase, "GL_CONTEXT_FRAMES", 8)
    generator = identity_generator(small) if name == "identity" else residual_generator(small, name)
    converter = Converter(generator, small, phase=phase, iterations=2)
    base = 3 * small.sample_rate // 2 // small.hop_length * small.hop_length
    for remainder in range(0, small.hop_length, 3):
        audio = excerpt(base + remainder, small.sample_rate, seed=remainder)
        out, _ = stream(converter, audio, 3000)
        assert out.shape == audio.shape
        assert edge_ratio(out, small.sample_rate) <= 2.0, remainder


def test_streaming_griffin_lim_is_close_to_whole_file(small, monkeypatch):
    monkeypatch.setattr(dsp_phase, "GL_SEGMENT_FRAMES", 300)
    monkeypatch.setattr(dsp_phase, "GL_CONTEXT_FRAMES", 32)
    converter = Converter(identity_generator(small), small, phase="griffinlim", iterations=8)
    audio = melody(10.0, small.sample_rate, seed=2)
    chunked, _ = stream(converter, audio, 7000)
    whole = converter.convert_unmatched(audio)
    assert chunked.shape == audio.shape
    magnitude = np.abs(sp.stft(audio, small)[: small.n_bins])
    whole_sc = sp.magnitude_error(whole, magnitude, small)
    assert sp.magnitude_error(chunked, magnitude, small) < 2 * whole_sc + 0.01
    assert relative_error(chunked, audio) < 0.1


def test_any_generate_callable_will_do(small):
    """No model, no TensorFlow: a NumPy function and a plan are all a stream needs."""
    plan = TilingPlan.create(small, batch_size=2)
    calls = []

    def generate(tiles: np.ndarray) -> np.ndarray:
        calls.append(len(tiles))
        return tiles

    audio = melody(3.0, small.sample_rate, seed=7)
    conversion = StreamingConversion(generate, plan)
    out = np.concatenate([conversion.feed(audio[:20000]), conversion.feed(audio[20000:])])
    out = np.concatenate([out, conversion.finish()])
    assert out.shape == audio.shape and max(calls) <= 2
    padded = sp.n_frames_for(len(audio) + 2 * plan.edge_samples, small)
    assert sum(calls) == len(tiling.tile_starts(padded, small.tile_frames, plan.overlap))
    band_limited = Converter(identity_generator(small), small).convert_unmatched(audio)
    np.testing.assert_allclose(out, band_limited, atol=2e-5)


def test_empty_input_and_empty_blocks(small):
    plan = TilingPlan.create(small)
    assert StreamingConversion(lambda t: t, plan).finish().shape == (0,)
    conversion = StreamingConversion(lambda t: t, plan)
    audio = melody(0.5, small.sample_rate)
    parts = [conversion.feed(np.zeros(0, np.float32)), conversion.feed(audio)]
    parts += [conversion.feed(np.zeros(0, np.float32)), conversion.finish()]
    assert np.concatenate(parts).shape == audio.shape


@pytest.mark.parametrize("seconds,block", [(0.3, 50), (1.0, 700), (30.0, 5000), (30.0, 1 << 18)])
def test_kept_spectrograms_cover_the_same_span(small, seconds, block):
    """Input and output frames kept for --plot: the same frames of the input, from its start."""
    converter = Converter(identity_generator(small), small)
    audio = melody(seconds, small.sample_rate, seed=1)
    _, conversion = stream(converter, audio, block, keep_frames=2048)
    kept_in, kept_out = conversion.kept
    frames = min(2048, sp.n_frames_for(len(audio), small))
    assert kept_in.shape == kept_out.shape == (small.n_bins, frames)
    spectrogram, _ = sp.log_spectrogram(audio, small)  # its first and last frames see zeros
    np.testing.assert_allclose(kept_in[:, 1:-1], spectrogram[:, 1 : frames - 1], atol=1e-5)
    np.testing.assert_allclose(kept_out, kept_in, atol=1e-5)  # identity


def test_plan_defaults_and_borders(small):
    plan = TilingPlan.create(small)
    assert (plan.overlap, plan.context, plan.step) == (8, 2, 24)
    assert plan.edge_frames == 3 and plan.edge_samples == 3 * small.hop_length
    assert plan.window.shape == (small.tile_frames,) and plan.window.max() == 1.0
    borders = plan.tile_borders(200)
    shifted = tiling.tile_borders(206, small.tile_frames, 8) - 3
    np.testing.assert_array_equal(borders, shifted[(shifted > 0) & (shifted < 200)])
    assert plan == TilingPlan.create(small)  # frozen, comparable


def test_plan_errors(small):
    with pytest.raises(ConfigError, match="phase='magic'"):
        TilingPlan.create(small, phase="magic")
    with pytest.raises(ConfigError, match="batch_size=0 must be an integer >= 1"):
        TilingPlan.create(small, batch_size=0)
    with pytest.raises(ConfigError, match="iterations=True must be an integer >= 1"):
        TilingPlan.create(small, iterations=True)
    with pytest.raises(ConfigError, match="iterations=0 must be an integer >= 1"):
        TilingPlan.create(small, iterations=0)  # as predict.py --iterations and ConvertConfig
    with pytest.raises(ConfigError, match="overlap=32, context=0"):
        TilingPlan.create(small, overlap=32, context=0)
    with pytest.raises(ConfigError, match="overlap=8, context=5"):
        TilingPlan.create(small, overlap=8, context=5)


def test_real_tiny_generator_streams_like_the_whole_file(small):
    from timbre.tf.networks import build_generator

    generator = build_generator(ModelConfig(base_filters=4, depth=5), 32, 32)
    converter = Converter(generator, small, batch_size=4)
    audio = melody(5.0, small.sample_rate)
    chunked, _ = stream(converter, audio, 9000)
    np.testing.assert_allclose(chunked, converter.convert_unmatched(audio), atol=2e-5)


def test_window_and_scale_are_the_spectrogram_modules(small):
    """The streaming STFT does without librosa (its import is slow): same window, same scale,
    and its frames equal :func:`timbre.dsp.stft.stft`'s (bitwise: the same arithmetic).
    """
    import librosa

    plan = TilingPlan.create(small)
    window = librosa.filters.get_window("hann", small.n_fft, fftbins=True)
    np.testing.assert_array_equal(plan.stft_window, window)
    assert plan.magnitude_scale == sp.magnitude_scale(small)
    audio = melody(1.0, small.sample_rate, seed=9)
    conversion = StreamingConversion(lambda tiles: tiles, plan)
    conversion.feed(audio)
    expected, _ = sp.log_spectrogram(edges.pad_edges(audio, plan.edge_samples, 16000), small)
    analysed = conversion.spec.shape[1]
    assert analysed > 50
    np.testing.assert_array_equal(
        conversion.spec, expected[:, conversion.base : conversion.base + analysed]
    )


@pytest.mark.parametrize("source_rate,output_rate", [(16000, 16000), (22050, 22050), (8000, 44100)])
def test_resampled_conversion_equals_resampling_the_whole_array(small, source_rate, output_rate):
    """Resampled in blocks (soxr's stream), scaled and converted: the whole-array result of the
    same steps, to the resampler's streaming precision.
    """
    from timbre.convert.streaming import ResampledConversion
    from timbre.io import audio as au

    converter = Converter(conv_generator(small, seed=3), small, batch_size=3)
    audio = melody(4.0, source_rate, seed=6)
    stream = ResampledConversion(converter.generate, converter.plan, source_rate, output_rate, 0.5)
    parts = [stream.feed(audio[i : i + 7000]) for i in range(0, len(audio), 7000)]
    streamed = np.concatenate(parts + [stream.finish()])
    whole = converter.convert_unmatched(au.resample(audio, source_rate, small.sample_rate) * 0.5)
    whole = au.resample(whole, small.sample_rate, output_rate)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    assert relative_error(streamed[:n], whole[:n]) < 1e-3
