"""Conversion: exact lengths, identity reproduces the input, no seams, chunked == whole, errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import soundfile as sf
from conftest import sine

from timbre import spectrogram as sp
from timbre.config import SpectrogramConfig
from timbre.conversion import converter, streaming
from timbre.conversion.converter import Converter, load_converter, load_generator
from timbre.conversion.streaming import StreamingConversion
from timbre.errors import AudioError, ConfigError, ModelError
from timbre.evaluation import metrics


def identity_generator(config: SpectrogramConfig) -> keras.Model:
    """A generator that returns its input: conversion must give back the input."""
    x = keras.Input((config.n_bins, config.tile_frames, 1))
    return keras.Model(x, keras.layers.Identity()(x))


def conv_generator(config: SpectrogramConfig, seed: int = 0, offset: float = 0.0) -> keras.Model:
    """A random 3x3 convolution (its tile edges see zero padding, so overlapping tiles differ)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((config.n_bins, config.tile_frames, 1))
    y = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(x, keras.layers.Rescaling(1.0, offset=offset)(y))


def write_model(directory, generator: keras.Model, config: SpectrogramConfig):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps({"version": 1, "mode": "generator", "spectrogram": config.to_dict()})
    )
    generator.save(directory / "generator.keras")
    return directory


def melody(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Notes of random pitch (220-880 Hz) and length (0.1-0.6 s), each with a decaying envelope."""
    rng = np.random.default_rng(seed)
    parts, total = [], int(round(seconds * sample_rate))
    while sum(map(len, parts)) < total:
        note = sine(
            rng.uniform(220, 880), rng.uniform(0.1, 0.6), sample_rate, rng.uniform(0.1, 0.5)
        )
        parts.append(note * np.exp(-np.arange(len(note)) / (0.3 * sample_rate)).astype(np.float32))
    return np.concatenate(parts)[:total]


def vibrato(seconds: float, sample_rate: int) -> np.ndarray:
    """A tone whose spectrum changes at a steady pace, so no frame is special.

    The changes are vibrato and tremolo.
    """
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    tone = np.sin(2 * np.pi * (440 * t + 30 * np.sin(2 * np.pi * 0.37 * t))) * (
        0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t)
    )
    return (0.3 * tone).astype(np.float32)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


@pytest.fixture(scope="module")
def small() -> SpectrogramConfig:
    return SpectrogramConfig(
        sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32
    )


@pytest.fixture(scope="module")
def identity(small) -> Converter:
    return Converter(identity_generator(small), small)


def test_identity_reproduces_input_without_seams(identity, small):
    audio = vibrato(10.0, small.sample_rate)
    out = identity.convert(audio)
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert relative_error(out, audio) < 0.01  # seams or a gain error would show here
    assert np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(audio**2)) == pytest.approx(1.0, abs=0.01)
    borders = identity.tile_borders(sp.n_frames_for(len(audio), small))
    assert len(borders) > 20
    assert metrics.seam_ratio(out, small, borders) < 1.2
    assert metrics.seam_ratio(out, small, borders) == pytest.approx(
        metrics.seam_ratio(audio, small, borders), abs=0.02
    )


def test_seam_check_catches_a_converter_with_seams(small):
    """A generator that darkens the end of each tile fails the seam check.

    Its tiles are pasted without overlap.
    """
    x = keras.Input((small.n_bins, small.tile_frames, 1))
    ramp = np.linspace(0.0, -0.8, small.tile_frames, dtype=np.float32)[None, None, :, None]
    seamy = keras.Model(x, keras.layers.Rescaling(1.0, offset=ramp)(x))
    converter = Converter(seamy, small, overlap=0, context=0)
    audio = vibrato(10.0, small.sample_rate)
    out = converter.convert(audio)
    assert (
        metrics.seam_ratio(out, small, converter.tile_borders(sp.n_frames_for(len(audio), small)))
        > 1.2
    )


@pytest.mark.parametrize("seconds", [0.01, 0.1, 0.2, 2.97, 3.0, 7.3])
@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_convert_keeps_the_length(small, seconds, phase):
    converter = Converter(conv_generator(small), small, phase=phase, iterations=4)
    audio = melody(seconds, small.sample_rate) + 1e-3
    out = converter.convert(audio)
    assert out.shape == audio.shape and out.dtype == np.float32 and np.all(np.isfinite(out))


@pytest.mark.parametrize("seconds,block", [(0.05, 100), (7.3, 1000), (7.3, 5000), (20.0, 40000)])
def test_streaming_equals_whole_file(small, seconds, block):
    converter = Converter(conv_generator(small, seed=3), small, batch_size=3)
    audio = melody(seconds, small.sample_rate, seed=5)
    stream = StreamingConversion(converter)
    parts = [stream.feed(audio[i : i + block]) for i in range(0, len(audio), block)] + [
        stream.finish()
    ]
    chunked = np.concatenate(parts)
    assert chunked.shape == audio.shape
    np.testing.assert_allclose(chunked, converter.convert(audio), atol=2e-5)
    assert len(parts) > 2 or seconds < 1


def test_streaming_griffin_lim_is_close_to_whole_file(small, monkeypatch):
    monkeypatch.setattr(streaming, "GL_SEGMENT_FRAMES", 300)
    monkeypatch.setattr(streaming, "GL_CONTEXT_FRAMES", 32)
    converter = Converter(identity_generator(small), small, phase="griffinlim", iterations=8)
    audio = melody(10.0, small.sample_rate, seed=2)
    stream = StreamingConversion(converter)
    chunked = np.concatenate(
        [stream.feed(audio[i : i + 7000]) for i in range(0, len(audio), 7000)] + [stream.finish()]
    )
    whole = converter.convert(audio)
    assert chunked.shape == audio.shape
    magnitude = np.abs(sp.stft(audio, small)[: small.n_bins])
    whole_sc = sp.spectral_convergence(whole, magnitude, small)
    assert sp.spectral_convergence(chunked, magnitude, small) < 2 * whole_sc + 0.01
    assert relative_error(chunked, audio) < 0.1


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("seconds", [0.1, 2.97, 3.0, 61.0])
def test_convert_file_keeps_the_length(tmp_path, identity, rate, channels, seconds):
    frames = int(round(seconds * rate))
    data = np.stack([sine(330 * (c + 1), seconds, rate, 0.3) for c in range(channels)], axis=1)[
        :frames
    ]
    sf.write(tmp_path / "in.wav", data, rate, subtype="FLOAT")
    result = identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    out, out_rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert out_rate == rate and out.shape == (frames,) and np.all(np.isfinite(out))
    assert result.seconds == pytest.approx(seconds, abs=1 / rate) and result.sample_rate == rate
    if (
        seconds > 1
    ):  # the identity conversion of a 330 Hz (+ 660 Hz) sine is that sine, mixed to mono
        middle = slice(frames // 4, frames // 2)
        assert relative_error(out[middle], data[middle].mean(axis=1)) < 0.02


@pytest.mark.parametrize("seconds", [0.1, 2.97, 3.0])
def test_full_size_settings_keep_the_length(tmp_path, seconds):
    config = SpectrogramConfig()
    converter = Converter(identity_generator(config), config)
    sf.write(tmp_path / "in.flac", sine(440, seconds, 48000, 0.5), 48000)
    result = converter.convert_file(tmp_path / "in.flac", tmp_path / "out.wav", sample_rate=22050)
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    frames = int(round(seconds * 48000))
    assert (
        rate == 22050 and len(out) == round(frames * 22050 / 48000) and result.sample_rate == 22050
    )
    if seconds > 1:
        assert np.max(np.abs(out[2000:-2000])) == pytest.approx(0.5, abs=0.02)


def test_convert_file_equals_convert_and_plots(tmp_path, small):
    converter = Converter(conv_generator(small, seed=1), small)
    audio = melody(25.0, small.sample_rate, seed=1)
    sf.write(tmp_path / "in.wav", audio, small.sample_rate, subtype="FLOAT")
    result = converter.convert_file(
        tmp_path / "in.wav",
        tmp_path / "out.wav",
        block_frames=30000,
        plot_path=tmp_path / "out.png",
    )
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    np.testing.assert_allclose(out / result.gain, converter.convert(audio), atol=2e-5)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.wav",
        "out.png",
        "out.wav",
    ]  # no scratch left


def test_loud_conversion_is_scaled_not_clipped(tmp_path, small):
    loud = Converter(
        conv_generator(small, seed=0, offset=0.3), small
    )  # +0.3 in log magnitude: much louder
    audio = melody(4.0, small.sample_rate) * 2
    raw = loud.convert(audio)
    assert np.max(np.abs(raw)) > 1
    sf.write(tmp_path / "in.wav", audio, small.sample_rate, subtype="FLOAT")
    result = loud.convert_file(tmp_path / "in.wav", tmp_path / "out.wav", subtype="PCM_16")
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert result.scaled and result.peak == pytest.approx(np.max(np.abs(raw)), rel=1e-3)
    assert np.max(np.abs(out)) == pytest.approx(converter.PEAK_TARGET, abs=1e-3)
    np.testing.assert_allclose(out, raw * result.gain, atol=2e-4)


def test_quiet_conversion_is_not_scaled(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", sine(440, 1.0, small.sample_rate, 0.25), small.sample_rate)
    result = identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    assert not result.scaled and result.gain == 1.0 and 0.2 < result.peak < 0.3


def test_silent_input_warns_but_converts(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", np.zeros(5000, dtype=np.float32), small.sample_rate)
    with pytest.warns(UserWarning, match="silent"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    out, _ = sf.read(tmp_path / "out.wav")
    assert len(out) == 5000 and np.all(out == 0)
    with pytest.warns(UserWarning, match="silent"):
        assert np.all(identity.convert(np.zeros(300, dtype=np.float32)) == 0)


def test_input_errors(tmp_path, identity):
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        identity.convert_file(tmp_path / "missing.wav", tmp_path / "out.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="text.wav: not a readable audio file"):
        identity.convert_file(tmp_path / "text.wav", tmp_path / "out.wav")
    with pytest.raises(ConfigError, match="expected a 1-D array"):
        identity.convert(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(AudioError, match="zero-length"):
        identity.convert(np.zeros(0, dtype=np.float32))
    assert not (tmp_path / "out.wav").exists()


def test_output_errors(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", sine(440, 0.5, small.sample_rate), small.sample_rate)
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(AudioError, match="cannot create the output folder"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "file" / "sub" / "out.wav")
    with pytest.raises(AudioError, match="unknown audio format"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "out.xyz")


def test_converter_argument_errors(small):
    generator = identity_generator(small)
    with pytest.raises(ConfigError, match="phase='magic'"):
        Converter(generator, small, phase="magic")
    with pytest.raises(ConfigError, match="precision='float16'"):
        Converter(generator, small, precision="float16")
    with pytest.raises(ConfigError, match="batch_size=0 must be an integer >= 1"):
        Converter(generator, small, batch_size=0)
    with pytest.raises(ConfigError, match="iterations=-1"):
        Converter(generator, small, iterations=-1)
    with pytest.raises(ConfigError, match="overlap=32, context=0"):
        Converter(generator, small, overlap=32, context=0)
    with pytest.raises(ConfigError, match="overlap=8, context=5"):
        Converter(generator, small, overlap=8, context=5)
    with pytest.raises(ModelError, match=r"expected \(batch, \*\(64, 32, 1\)\)"):
        Converter(
            generator,
            SpectrogramConfig(
                sample_rate=16000, n_fft=256, hop_length=128, n_bins=64, tile_frames=32
            ),
        )


def test_load_generator_round_trip(tmp_path, small):
    directory = write_model(tmp_path / "model", conv_generator(small, seed=2), small)
    generator, config = load_generator(directory)
    assert config == small and generator.input_shape == (None, 32, 32, 1)
    converter = load_converter(directory / "generator.keras", phase="griffinlim", batch_size=2)
    assert converter.phase == "griffinlim" and converter.batch_size == 2
    audio = melody(3.0, small.sample_rate)
    reference = Converter(conv_generator(small, seed=2), small).convert(audio)
    np.testing.assert_allclose(load_converter(directory).convert(audio), reference, atol=1e-5)


def test_load_generator_errors(tmp_path, small):
    with pytest.raises(ModelError, match="nowhere: not found .expected a model directory"):
        load_generator(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="config.json and generator.keras missing"):
        load_generator(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a .keras file"):
        load_generator(tmp_path / "notes.txt")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"spectrogram": small.to_dict()}))
    (bad / "generator.keras").write_text("not a zip")
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        load_generator(bad)
    (bad / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_generator(bad)
    (bad / "config.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(ModelError, match="no 'spectrogram' settings"):
        load_generator(bad)
    other = write_model(tmp_path / "other", identity_generator(small), small)
    (other / "config.json").write_text(json.dumps({"spectrogram": SpectrogramConfig().to_dict()}))
    with pytest.raises(ModelError, match="trained with other settings"):
        load_generator(other)


def test_real_tiny_generator_converts(tmp_path, small):
    model = pytest.importorskip("timbre.training.model")
    from timbre.config import ModelConfig

    generator = model.build_generator(ModelConfig(base_filters=4, depth=5), 32, 32)
    directory = write_model(tmp_path / "model", generator, small)
    converter = load_converter(directory, batch_size=4)
    audio = melody(5.0, small.sample_rate)
    out = converter.convert(audio)
    assert out.shape == audio.shape and np.all(np.isfinite(out))
    stream = StreamingConversion(converter)
    chunked = np.concatenate(
        [stream.feed(audio[i : i + 9000]) for i in range(0, len(audio), 9000)] + [stream.finish()]
    )
    np.testing.assert_allclose(chunked, out, atol=2e-5)


def test_bfloat16_is_close_to_float32(small):
    generator = conv_generator(small, seed=4)
    audio = melody(3.0, small.sample_rate)
    exact = Converter(generator, small).convert(audio)
    fast = Converter(generator, small, precision="bfloat16")
    assert fast.precision == "bfloat16"
    assert relative_error(fast.convert(audio), exact) < 0.02
