"""timbre.settings: defaults, JSON round trips and one refusal per validation branch."""

import pytest

from timbre.errors import ConfigError
from timbre.settings import (
    FeatureConfig,
    ModelConfig,
    SpectrogramConfig,
    SynthConfig,
    TrainConfig,
)


def test_defaults_follow_design():
    config = SpectrogramConfig()
    assert (
        config.sample_rate,
        config.n_fft,
        config.hop_length,
        config.n_bins,
        config.tile_frames,
    ) == (44100, 1024, 512, 256, 256)
    assert config.amin == 2.0**-16
    assert config.tile_seconds == pytest.approx(2.972, abs=1e-3)


def test_json_round_trip(tmp_path):
    config = SpectrogramConfig(sample_rate=16000, n_bins=100)
    config.save(tmp_path / "c.json")
    assert SpectrogramConfig.load(tmp_path / "c.json") == config


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"hop_length": 0}, "hop_length=0 must be a positive integer"),
        ({"n_fft": 2.5}, "n_fft=2.5 must be a positive integer"),
        ({"n_bins": 600}, "n_bins=600 exceeds the 513 bins"),
        ({"hop_length": 2048}, "hop_length=2048 exceeds n_fft"),
        ({"amin": 0.0}, "amin=0.0 must lie in"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SpectrogramConfig(**kwargs)


def test_unknown_keys_refused():
    with pytest.raises(ConfigError, match="unknown SpectrogramConfig keys \\['hop'\\]"):
        SpectrogramConfig.from_dict({"hop": 3})


def test_synth_config_validation():
    with pytest.raises(ConfigError, match="playback_speed=0 must be a positive number"):
        SynthConfig(playback_speed=0)
    with pytest.raises(ConfigError, match="transpose=1.5"):
        SynthConfig(transpose=1.5)
    with pytest.raises(ConfigError, match="max_seconds=-1"):
        SynthConfig(max_seconds=-1)
    with pytest.raises(
        ConfigError, match="subtype='PCM_8' .expected 'PCM_16', 'PCM_24' or 'FLOAT'"
    ):
        SynthConfig(subtype="PCM_8")
    assert SynthConfig.from_dict(SynthConfig(transpose=3).to_dict()) == SynthConfig(transpose=3)


def test_feature_config_validation():
    with pytest.raises(ConfigError, match="silence_db=5"):
        FeatureConfig(silence_db=5)
    with pytest.raises(ConfigError, match="overlap=-1"):
        FeatureConfig(overlap=-1)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"depth": 0}, "depth=0 must be a positive integer"),
        ({"base_filters": 2.5}, "base_filters=2.5 must be a positive integer"),
        ({"dropout": 1.0}, "dropout=1.0 must lie in"),
        ({"dropout_blocks": -1}, "dropout_blocks=-1 must be a non-negative integer"),
    ],
)
def test_model_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
        ({"steps_per_epoch": 0}, "steps_per_epoch=0 must be a positive integer"),
        ({"seed": -1}, "seed=-1 must be a non-negative integer"),
        ({"gen_lr": 0.0}, "gen_lr=0.0 must be > 0"),
        ({"beta_1": 1.0}, "beta_1=1.0 must lie in"),
        ({"validation_fraction": 1.0}, "validation_fraction=1.0 must lie in"),
        ({"mixed_precision": "fp8"}, "mixed_precision='fp8' \\(expected one of"),
        ({"distribute": "horovod"}, "distribute='horovod' \\(expected one of"),
    ],
)
def test_train_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)
