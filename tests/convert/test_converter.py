"""Conversion (timbre/convert/converter.py): exact lengths, identity reproduces the input, no
seams, file edges like the middle, level-invariant, never clipped, errors.

Also home of the small generators the conversion tests share (test_streaming.py,
test_predict.py import them).
"""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import soundfile as sf
from conftest import sine
from helpers import (
    SMALL,
    conv_generator,
    edge_ratio,
    excerpt,
    identity_generator,
    melody,
    relative_error,
    residual_generator,
    write_model,
)

from timbre import plotting
from timbre.convert.converter import (
    DEFAULT_ORIGIN_LEVEL_DB,
    PLOT_FRAMES,
    Converter,
    load_converter,
    load_generator,
)
from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.errors import AudioError, ConfigError, ModelError
from timbre.evaluate import metrics
from timbre.settings import ModelConfig, SpectrogramConfig
from timbre.tf.keras_generator import KerasGenerator

RATE = SMALL.sample_rate  # Hz of the arrays converted here


def vibrato(seconds: float, sample_rate: int) -> np.ndarray:
    """A tone whose spectrum changes at a steady pace, so no frame is special.

    The changes are vibrato and tremolo.
    """
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    tone = np.sin(2 * np.pi * (440 * t + 30 * np.sin(2 * np.pi * 0.37 * t))) * (
        0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t)
    )
    return (0.3 * tone).astype(np.float32)


@pytest.fixture(scope="module")
def small() -> SpectrogramConfig:
    return SMALL


@pytest.fixture(scope="module")
def identity(small) -> Converter:
    return Converter(identity_generator(small), small)


@pytest.fixture(scope="module")
def generators(small) -> dict[str, keras.Model]:
    return {
        "identity": identity_generator(small),
        "conv": residual_generator(small, "conv"),
        "unet": residual_generator(small, "unet"),
    }


def test_identity_reproduces_input_without_seams(identity, small):
    audio = vibrato(10.0, small.sample_rate)
    out = identity.convert(audio, sample_rate=RATE)
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert relative_error(out, audio) < 0.01  # seams or a gain error would show here
    assert np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(audio**2)) == pytest.approx(1.0, abs=0.01)
    borders = identity.tile_borders(sp.n_frames_for(len(audio), small))
    assert len(borders) > 20
    assert metrics.seam_ratio(out, small, borders) < 1.2
    assert metrics.seam_ratio(out, small, borders) == pytest.approx(
        metrics.seam_ratio(audio, small, borders), abs=0.02
    )


def test_seam_check_catches_a_converterwith_seams(small):
    """A generator that darkens the end of each tile fails the seam check.

    Its tiles are pasted without overlap.
    """
    x = keras.Input((small.n_bins, small.tile_frames, 1))
    ramp = np.linspace(0.0, -0.8, small.tile_frames, dtype=np.float32)[None, None, :, None]
    seamy = keras.Model(x, keras.layers.Rescaling(1.0, offset=ramp)(x))
    converter = Converter(seamy, small, overlap=0, context=0)
    audio = vibrato(10.0, small.sample_rate)
    out = converter.convert(audio, sample_rate=RATE)
    assert (
        metrics.seam_ratio(out, small, converter.tile_borders(sp.n_frames_for(len(audio), small)))
        > 1.2
    )


@pytest.mark.parametrize("seconds", [0.01, 0.1, 0.2, 2.97, 3.0, 7.3])
@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_convert_keeps_the_length(small, seconds, phase):
    converter = Converter(conv_generator(small), small, phase=phase, iterations=4)
    audio = melody(seconds, small.sample_rate) + 1e-3
    out = converter.convert(audio, sample_rate=RATE)
    assert out.shape == audio.shape and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_one_sample_converts(identity):
    assert identity.convert(np.array([0.25], dtype=np.float32), sample_rate=RATE) == pytest.approx(
        [0.25], abs=1e-6
    )


# --- Edges: the first and last samples behave like the middle ------------------------------


@pytest.mark.parametrize("name", ["identity", "conv", "unet"])
@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_edges_are_like_the_middle_for_every_length_remainder(generators, small, name, phase):
    """Abrupt 1.5 s excerpts of every length modulo the hop (0..127 here): no edge artefact.

    Before the edges were padded, remainders from ~70 up blew the last samples up to
    30-440x the rest with the conv and U-Net generators.
    """
    converter = Converter(generators[name], small, phase=phase, iterations=2, batch_size=8)
    base = 3 * small.sample_rate // 2 // small.hop_length * small.hop_length  # whole hops
    ratios = []
    for remainder in range(small.hop_length):
        audio = excerpt(base + remainder, small.sample_rate, seed=remainder)
        out = converter.convert_unmatched(audio)
        assert out.shape == audio.shape and np.all(np.isfinite(out))
        ratios.append(edge_ratio(out, small.sample_rate))
    worst = int(np.argmax(ratios))
    assert ratios[worst] <= 2.0, f"remainder {worst}: edge peak {ratios[worst]:.1f}x the rest"


def test_edges_at_the_default_settings(tmp_path):
    """The issue's case: 44.1 kHz, hop 512, remainders 496-511 (and a few others); a random
    U-Net on full-size tiles, both phases, whole file and through convert_file.
    """
    config = SpectrogramConfig()
    generator = residual_generator(config, "unet")
    for phase in ("input", "griffinlim"):
        converter = Converter(generator, config, phase=phase, iterations=2)
        for remainder in (0, 1, 255, 496, 500, 505, 510, 511):
            audio = excerpt(2 * 44100 // 512 * 512 + remainder, 44100, seed=remainder)
            out = converter.convert(audio, sample_rate=44100)
            assert edge_ratio(out, 44100) <= 2.0, (phase, remainder, edge_ratio(out, 44100))
        sf.write(tmp_path / "in.wav", audio, 44100, subtype="FLOAT")
        result = converter.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
        written, _ = sf.read(tmp_path / "out.wav", dtype="float32")
        assert edge_ratio(written, 44100) <= 2.0 and not result.limited


def test_a_loud_first_sample_stays_a_first_sample(generators, small):
    """A click on the very first sample (and a DC step at the end) is converted like a click in
    the middle: the ends are no louder than the input's own click or the conversion's middle.
    """
    audio = excerpt(small.sample_rate + 77, small.sample_rate)
    audio[0], audio[-1] = 0.95, -0.9
    for name in ("conv", "unet"):
        out = Converter(generators[name], small).convert_unmatched(audio)
        edge = int(0.1 * small.sample_rate)
        ends = max(np.max(np.abs(out[:edge])), np.max(np.abs(out[-edge:])))
        assert ends <= 2 * max(0.95, np.max(np.abs(out[edge:-edge]))), name


# --- Level: converted at the training level, returned at the input's ----------------------


@pytest.mark.parametrize("name", ["conv", "unet"])
@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_conversion_is_level_invariant(generators, small, name, phase):
    """The same excerpt at -40, -20, -6 and -1 dBFS peak converts to outputs equal up to that gain.

    The generators map level-dependently: without level matching the outputs differ by 1-20 %.
    """
    converter = Converter(generators[name], small, phase=phase, iterations=2)
    audio = melody(3.0, small.sample_rate, seed=4)
    audio /= np.max(np.abs(audio))
    outputs = {
        peak_db: converter.convert(audio * 10 ** (peak_db / 20), sample_rate=RATE)
        for peak_db in (-40, -20, -6)
    }
    reference = converter.convert(audio * 10 ** (-1 / 20), sample_rate=RATE) / 10 ** (-1 / 20)
    assert np.max(np.abs(reference)) > 0.01
    for peak_db, out in outputs.items():
        assert relative_error(out / 10 ** (peak_db / 20), reference) < 1e-3, peak_db


def test_level_is_matched_to_the_training_level(generators, small):
    """Without keep_level the conversion comes out at the model's training level; with it, at
    the input's; a model whose training level differs converts differently (the level matters).
    """
    audio = melody(3.0, small.sample_rate, seed=2) * 0.05
    level = lv.active_level_db(audio, small.sample_rate)
    at_training = Converter(
        generators["identity"], small, origin_level_db=-17.0, keep_level=False
    ).convert(audio, sample_rate=RATE)
    assert lv.active_level_db(at_training, small.sample_rate) == pytest.approx(-17.0, abs=0.05)
    identity = Converter(generators["identity"], small, origin_level_db=-17.0)
    kept = identity.convert(audio, sample_rate=RATE)
    assert lv.active_level_db(kept, small.sample_rate) == pytest.approx(level, abs=0.05)
    np.testing.assert_allclose(kept, identity.convert_unmatched(audio), atol=2e-5)
    conv = generators["conv"]
    default, hot = (Converter(conv, small, origin_level_db=db) for db in (None, -6.0))
    assert default.origin_level_db == DEFAULT_ORIGIN_LEVEL_DB
    assert default.input_gain_db(level) == pytest.approx(DEFAULT_ORIGIN_LEVEL_DB - level)
    assert default.output_gain_db(level, -30.0) == pytest.approx(level + 30.0)  # to the input's
    assert (
        relative_error(
            hot.convert(audio, sample_rate=RATE), default.convert(audio, sample_rate=RATE)
        )
        > 0.05
    )


def test_one_transient_does_not_set_the_level(tmp_path, small):
    """A 5 ms click at -1 dBFS in a file playing at -40 dBFS changes the applied gain by less
    than 0.1 dB (a power mean of the same blocks moves by ~3 dB, the peak by 30 dB).
    """
    audio = melody(20.0, small.sample_rate, seed=6) * 0.02
    clicked = audio.copy()
    clicked[5 * small.sample_rate : 5 * small.sample_rate + 80] = 0.89
    converter = Converter(identity_generator(small), small)
    gains = []
    for name, samples in (("plain", audio), ("clicked", clicked)):
        sf.write(tmp_path / f"{name}.wav", samples, small.sample_rate, subtype="FLOAT")
        gains.append(
            converter.convert_file(tmp_path / f"{name}.wav", tmp_path / f"{name}_out.wav").gain_db
        )
    assert gains[0] > 20 and abs(gains[1] - gains[0]) < 0.1


def test_level_gains_of_silence(identity):
    silent = float("-inf")
    assert identity.input_gain_db(silent) == 0.0
    assert identity.output_gain_db(silent, -20.0) == identity.output_gain_db(-20.0, silent) == 0.0


# --- Files ---------------------------------------------------------------------------------


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
    if seconds > 1:  # the identity conversion of a 330 Hz (+ 660 Hz) sine is that sine, mono
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
    converter = Converter(residual_generator(small, "conv", seed=1), small)
    audio = 0.5 * melody(25.0, small.sample_rate, seed=1)  # not so loud that it is limited
    sf.write(tmp_path / "in.wav", audio, small.sample_rate, subtype="FLOAT")
    result = converter.convert_file(
        tmp_path / "in.wav",
        tmp_path / "out.wav",
        block_frames=30000,
        plot_path=tmp_path / "out.png",
    )
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert not result.limited
    np.testing.assert_allclose(out, converter.convert(audio, sample_rate=RATE), atol=2e-5)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.wav",
        "out.png",
        "out.wav",
    ]  # no scratch left


@pytest.mark.parametrize("seconds,block", [(1.0, 700), (30.0, 5000), (30.0, 1 << 18)])
def test_plot_shows_input_and_output_over_the_same_span(
    tmp_path, small, monkeypatch, seconds, block
):
    """--plot: both panels cover the same frames, whatever the length and block size (a 30 s
    file used to show 23.8 s of input next to ~18 s of output).
    """
    shown = []
    figure = plotting.spectrogram_figure
    monkeypatch.setattr(
        plotting,
        "spectrogram_figure",
        lambda panels, *a, **k: shown.append([s.shape for _, s in panels]) or figure(panels, *a),
    )
    sf.write(tmp_path / "in.wav", melody(seconds, small.sample_rate), small.sample_rate)
    converter = Converter(identity_generator(small), small)
    converter.convert_file(
        tmp_path / "in.wav", tmp_path / "o.wav", plot_path=tmp_path / "o.png", block_frames=block
    )
    expected = min(PLOT_FRAMES, sp.n_frames_for(int(seconds * 16000), small))
    assert shown == [[(small.n_bins, expected)] * 2]


def test_the_plot_stops_at_the_files_nyquist(tmp_path, monkeypatch):
    """#24: a 16 kHz file's plot drew 0-11 kHz (the model's band at 44.1 kHz): now 0-8 kHz."""
    import matplotlib.axes

    config = SpectrogramConfig(sample_rate=44100, n_fft=1024, hop_length=512, n_bins=256,
                               tile_frames=32)  # fmt: skip
    tops = []
    show = matplotlib.axes.Axes.imshow
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "imshow",
        lambda self, image, **k: (
            tops.append((image.shape[0], k["extent"][3])) or show(self, image, **k)
        ),
    )
    sf.write(tmp_path / "in.wav", melody(2.0, 16000), 16000)
    converter = Converter(identity_generator(config), config)
    converter.convert_file(tmp_path / "in.wav", tmp_path / "o.wav", plot_path=tmp_path / "o.png")
    rows = int(8000 * 1024 / 44100) + 1  # bins 0 .. 8 kHz
    assert tops == [(rows, pytest.approx(rows * 44100 / 1024 / 1000))] * 2
    assert 7.9 < tops[0][1] < 8.1
    tops.clear()
    sf.write(tmp_path / "full.wav", melody(2.0, 44100), 44100)
    converter.convert_file(tmp_path / "full.wav", tmp_path / "f.wav", plot_path=tmp_path / "f.png")
    assert tops == [(256, pytest.approx(config.max_hz / 1000))] * 2  # the whole band


def test_loud_conversion_is_limited_not_clipped(tmp_path, small):
    """Too loud for full scale: turned down only around the loud samples, never clipped, and
    not as a whole file (samples far from any overload are written as converted).
    """
    loud = Converter(conv_generator(small, seed=0, offset=0.3), small, keep_level=False)
    audio = melody(4.0, small.sample_rate) * 2
    raw = loud.convert(audio, sample_rate=RATE)
    assert np.max(np.abs(raw)) > 1
    sf.write(tmp_path / "in.wav", audio, small.sample_rate, subtype="FLOAT")
    result = loud.convert_file(tmp_path / "in.wav", tmp_path / "out.wav", subtype="PCM_16")
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert result.limited and result.limited_db < -1 and result.limited_seconds > 0
    assert result.peak == pytest.approx(np.max(np.abs(raw)), rel=1e-3)
    assert np.max(np.abs(out)) <= lv.LIMIT_CEILING + 1e-4
    reach = 2 * round(lv.LIMIT_RAMP_S * small.sample_rate)  # the limiter acts this far around
    near = np.convolve(np.abs(raw) > lv.LIMIT_CEILING, np.ones(2 * reach + 1), "same") > 0
    assert np.mean(~near) > 0.05  # enough of the file is far from any overload
    np.testing.assert_allclose(out[~near], raw[~near], atol=1e-4)


def test_quiet_conversion_is_not_limited(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", sine(440, 1.0, small.sample_rate, 0.25), small.sample_rate)
    result = identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    assert not result.limited and result.limited_seconds == 0 and 0.2 < result.peak < 0.3
    assert result.gain_db != 0 and result.output_gain_db == pytest.approx(-result.gain_db, abs=0.01)
    assert result.output_level_db == pytest.approx(result.level_db, abs=0.01)
    assert result.level_db == pytest.approx(20 * np.log10(0.25 / np.sqrt(2)), abs=0.05)


def test_silent_input_warns_but_converts(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", np.zeros(5000, dtype=np.float32), small.sample_rate)
    with pytest.warns(UserWarning, match="silent"):
        result = identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    out, _ = sf.read(tmp_path / "out.wav")
    assert len(out) == 5000 and np.all(out == 0)
    assert result.level_db == float("-inf") and result.gain_db == result.output_gain_db == 0
    with pytest.warns(UserWarning, match="silent"):
        assert np.all(identity.convert(np.zeros(300, dtype=np.float32), sample_rate=RATE) == 0)


@pytest.mark.parametrize("name", ["identity", "unet"])
def test_clipped_input_warns_but_converts(tmp_path, generators, small, name):
    clipped = np.clip(4 * melody(2.0, small.sample_rate, seed=3), -1, 1)
    sf.write(tmp_path / "in.wav", clipped, small.sample_rate, subtype="FLOAT")
    converter = Converter(generators[name], small)
    with pytest.warns(UserWarning, match="may be clipped"):
        converter.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert out.shape == clipped.shape and np.all(np.isfinite(out))
    assert np.max(np.abs(out)) <= lv.LIMIT_CEILING + 1e-6
    assert edge_ratio(out, small.sample_rate) <= 2.0


def test_input_errors(tmp_path, identity):
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        identity.convert_file(tmp_path / "missing.wav", tmp_path / "out.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="text.wav: not a readable audio file"):
        identity.convert_file(tmp_path / "text.wav", tmp_path / "out.wav")
    with pytest.raises(ConfigError, match=r"shape \(2, 3, 100\) \(expected \(n_samples,\)"):
        identity.convert(np.zeros((2, 3, 100), dtype=np.float32), sample_rate=RATE)
    with pytest.raises(ConfigError, match="expected a 1-D array"):
        identity.convert_unmatched(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(AudioError, match="zero-length"):
        identity.convert(np.zeros(0, dtype=np.float32), sample_rate=RATE)
    with pytest.raises(AudioError, match="zero-length"):
        identity.convert_unmatched(np.zeros(0, dtype=np.float32))
    assert not (tmp_path / "out.wav").exists()


def test_output_errors(tmp_path, identity, small):
    sf.write(tmp_path / "in.wav", sine(440, 0.5, small.sample_rate), small.sample_rate)
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(AudioError, match="cannot create the output folder"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "file" / "sub" / "out.wav")
    with pytest.raises(AudioError, match="unknown audio format"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "out.xyz")
    with pytest.raises(ConfigError, match="sample_rate=-5 must be a whole number of Hz from 8000"):
        identity.convert_file(tmp_path / "in.wav", tmp_path / "out.wav", sample_rate=-5)


def test_converterargument_errors(small):
    generator = identity_generator(small)
    with pytest.raises(ConfigError, match="phase='magic'"):
        Converter(generator, small, phase="magic")
    with pytest.raises(ConfigError, match="precision='float16'"):
        KerasGenerator(generator, precision="float16")
    with pytest.raises(ConfigError, match="generator: a function .expected a Generator"):
        Converter(lambda tiles: tiles, small)
    with pytest.raises(ConfigError, match="batch_size=0 must be an integer >= 1"):
        Converter(generator, small, batch_size=0)
    with pytest.raises(ConfigError, match="iterations=-1"):
        Converter(generator, small, iterations=-1)
    with pytest.raises(ConfigError, match="overlap=32, context=0"):
        Converter(generator, small, overlap=32, context=0)
    with pytest.raises(ConfigError, match="overlap=8, context=5"):
        Converter(generator, small, overlap=8, context=5)
    with pytest.raises(ConfigError, match="origin_level_db='loud'"):
        Converter(generator, small, origin_level_db="loud")
    with pytest.raises(ConfigError, match="origin_level_db=inf"):
        Converter(generator, small, origin_level_db=float("inf"))
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
    assert config == small and generator.tile_shape == (32, 32) and generator.backend == "keras"
    converter = load_converter(directory / "generator.keras", phase="griffinlim", batch_size=2)
    assert converter.phase == "griffinlim" and converter.batch_size == 2
    assert converter.origin_level_db == DEFAULT_ORIGIN_LEVEL_DB  # not recorded
    audio = melody(3.0, small.sample_rate)
    reference = Converter(conv_generator(small, seed=2), small).convert(audio, sample_rate=RATE)
    np.testing.assert_allclose(
        load_converter(directory).convert(audio, sample_rate=RATE), reference, atol=1e-5
    )


def test_load_convertertakes_the_training_level_from_the_model_dir(tmp_path, small):
    directory = write_model(
        tmp_path / "model", identity_generator(small), small, origin_level_db=-27.5
    )
    assert load_converter(directory).origin_level_db == -27.5
    assert load_converter(directory, origin_level_db=-3.0).origin_level_db == -3.0
    assert not load_converter(directory, keep_level=False).keep_level
    write_model(tmp_path / "bad", identity_generator(small), small, origin_level_db="loud")
    with pytest.raises(ModelError, match="origin_level_db='loud' .expected a number"):
        load_converter(tmp_path / "bad")


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
    with pytest.raises(ModelError, match="generator.keras: corrupt or truncated model file"):
        load_generator(bad)
    with zipfile.ZipFile(bad / "generator.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "NoSuchLayer", "config": {}}')
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
    from timbre.tf.networks import build_generator

    generator = build_generator(ModelConfig(base_filters=4, depth=5), 32, 32)
    directory = write_model(tmp_path / "model", generator, small)
    converter = load_converter(directory, batch_size=4)
    audio = melody(5.0, small.sample_rate)
    out = converter.convert(audio, sample_rate=RATE)
    assert out.shape == audio.shape and np.all(np.isfinite(out))
    assert edge_ratio(out, small.sample_rate) <= 2.0


def test_bfloat16_is_close_to_float32(small):
    generator = conv_generator(small, seed=4)
    audio = melody(3.0, small.sample_rate)
    exact = Converter(generator, small).convert(audio, sample_rate=RATE)
    fast = Converter(KerasGenerator(generator, "bfloat16"), small)
    assert fast.precision == "bfloat16" and fast.backend == "keras"
    assert relative_error(fast.convert(audio, sample_rate=RATE), exact) < 0.02
