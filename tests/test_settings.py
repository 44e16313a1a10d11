"""timbre.settings: defaults, JSON round trips and one refusal per validation branch."""

import argparse
import dataclasses

import pytest

from timbre.errors import ConfigError
from timbre.settings import (
    FRACTION,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    ConvertConfig,
    FeatureConfig,
    ModelConfig,
    SpectrogramConfig,
    SynthConfig,
    TrainConfig,
    add_arguments,
    check_fields,
    check_positive_int,
    fields_given,
    setting,
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


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"phase": "magic"}, "ConvertConfig: phase='magic' \\(expected one of"),
        ({"iterations": 0}, "ConvertConfig: iterations=0 must be a positive integer"),
        ({"batch_size": -2}, "ConvertConfig: batch_size=-2 must be a positive integer"),
        ({"overlap": -1}, "ConvertConfig: overlap=-1 must be a non-negative integer"),
        ({"context": 1.5}, "ConvertConfig: context=1.5 must be a non-negative integer"),
        ({"precision": "fp8"}, "ConvertConfig: precision='fp8' \\(expected one of"),
        ({"backend": "torch"}, "ConvertConfig: backend='torch' \\(expected one of"),
    ],
)
def test_convert_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ConvertConfig(**kwargs)


def test_convert_config_defaults_are_the_apis():
    config = ConvertConfig()
    assert (config.phase, config.iterations, config.batch_size) == ("input", 32, 8)
    assert config.overlap is None and config.context is None and config.keep_level is True


@pytest.mark.parametrize(
    "rule,text,message",
    [
        (POSITIVE_INT, "0", "0 is not a positive integer"),
        (POSITIVE_INT, "-1", "-1 is negative \\(expected a positive integer\\)"),
        (NON_NEGATIVE_INT, "-1", "-1 is negative \\(expected an integer >= 0\\)"),
        (POSITIVE, "0", "0.0 is not > 0"),
        (FRACTION, "1", "1.0 is not in \\(0, 1\\)"),
        (UNIT_INTERVAL, "1", "1.0 is not in \\[0, 1\\)"),
    ],
)
def test_rule_refuses_flags(rule, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        rule.argparse_type(text)


@pytest.mark.parametrize(
    "rule,value,message",
    [
        (POSITIVE_INT, True, "X: n=True must be a positive integer"),
        (NON_NEGATIVE_INT, -3, "X: n=-3 must be a non-negative integer"),
        (POSITIVE, -0.5, "X: n=-0.5 must be > 0"),
        (FRACTION, 0.0, "X: n=0.0 must lie in \\(0, 1\\)"),
        (UNIT_INTERVAL, 1.0, "X: n=1.0 must lie in \\[0, 1\\)"),
    ],
)
def test_rule_refuses_values(rule, value, message):
    with pytest.raises(ConfigError, match=message):
        rule.check("X", "n", value)


def test_check_positive_int():
    check_positive_int("X", a=1, b=2)
    with pytest.raises(ConfigError, match="X: b=0 must be a positive integer"):
        check_positive_int("X", a=1, b=0)


def test_add_arguments_derives_flags_from_fields():
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainConfig, ("gen_lr", "validation_fraction", "deterministic"))
    args = parser.parse_args(["--lr", "3e-4", "--validation_split", "0.2"])
    assert (args.gen_lr, args.validation_fraction, args.deterministic) == (3e-4, 0.2, False)
    assert parser.parse_args([]).gen_lr == TrainConfig.gen_lr
    with pytest.raises(SystemExit):
        parser.parse_args(["--validation_split", "1.5"])


def test_add_arguments_defaults_none_tells_given_from_default():
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainConfig, defaults_none=True)
    assert fields_given(parser.parse_args([]), TrainConfig) == {}
    given = fields_given(parser.parse_args(["--lr_decay", "cosine", "--seed", "3"]), TrainConfig)
    assert given == {"lr_decay": "cosine", "seed": 3}
    assert TrainConfig(**given).lr_decay == "cosine"


def test_setting_without_rule_checks_choices_only():
    @dataclasses.dataclass(frozen=True)
    class Toy:
        mode: str = setting("a", "a mode", choices=("a", "b"))
        count: int | None = setting(None, "a count", check=POSITIVE_INT)

        def __post_init__(self) -> None:
            check_fields(self)

    assert Toy(count=None).count is None
    with pytest.raises(ConfigError, match="Toy: mode='c' \\(expected one of \\('a', 'b'\\)\\)"):
        Toy(mode="c")
    with pytest.raises(ConfigError, match="Toy: count=0 must be a positive integer"):
        Toy(count=0)
