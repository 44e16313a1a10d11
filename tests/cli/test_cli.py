import argparse
import errno
import subprocess
import sys
from pathlib import Path

import pytest

from timbre import cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    "synthesize_audios.py",
    "compute_features.py",
    "train.py",
    "train_generator.py",
    "predict.py",
    "evaluate.py",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_show_help(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")


def test_dispatcher_lists_commands(capsys):
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out  # asked for: on stdout
    assert all(
        name in listed
        for name in ("synthesize", "features", "train-generator", "predict", "evaluate", "demo")
    )
    assert cli.main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err
    assert cli.main([]) == 2 and "usage: timbre <command>" in capsys.readouterr().err


def test_version_and_program_names(capsys):
    import timbre

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"timbre {timbre.__version__}"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["features", "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: timbre features ")


def test_train_flags_of_the_original_project(tmp_path, capsys):
    from timbre.cli import train

    parser = train.build_parser("generator")
    args = parser.parse_args(["--lr", "3e-4", "--findlr", "True", "--model", "m"])
    assert args.gen_lr == 3e-4 and args.findlr is True and args.model_dir == "m"
    assert parser.parse_args(["--findlr"]).findlr is True
    assert parser.parse_args(["--findlr", "false"]).findlr is False
    assert parser.parse_args(["--model_dir", "old"]).model_dir == "old"
    status = train.main(
        [
            "--features",
            str(tmp_path / "none"),
            "--origin",
            "a",
            "--target",
            "b",
            "--validation_split",
            "0.8",
        ],
        mode="generator",
    )
    err = capsys.readouterr().err
    assert status == 1 and "warning: --validation_split 0.8: holds out 80%" in err
    assert train.main(["--origin", "a"], mode="generator") == 1
    assert "--dataset_path, --target: required" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_how_to_continue(capsys, monkeypatch):
    from timbre.cli import common

    def interrupted(args):
        raise KeyboardInterrupt

    parser = argparse.ArgumentParser(prog="x")
    assert common.run(parser, interrupted, [], interrupted="rerun with --resume") == 130
    err = capsys.readouterr().err
    assert err == "interrupted; rerun with --resume\n"  # one line, no traceback


def test_os_errors_become_one_line(capsys):
    from timbre.cli import common

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.wav")

    parser = argparse.ArgumentParser(prog="x")
    assert common.run(parser, full, []) == 1
    assert capsys.readouterr().err == (
        "error: /data/out.wav: no space left on device; free some space and rerun\n"
    )


# Flags that name paths, pick inputs or shape the output of one run: no config field behind them.
NOT_SETTINGS = {
    "common": {"help", "quiet", "verbose", "jobs", "target", "force", "model", "output", "seed"},
    "synthesize": {
        "audios_path",
        "midi_path",
        "nsynth_path",
        "soundfont",
        "pool",
        "hold_out",
        "instruments",
        "program",
        "preset",
        "bank_cache",
        "corpus_minutes",
        "augment",  # AugmentConfig.chain ("none": no AugmentConfig at all)
        "augment_share",  # AugmentConfig.probability
    },
    "features": {"audios_path", "features_path", "instruments", "spectrogram_config"},
    "train": {
        "dataset_path",
        "config",
        "origin",
        "model_dir",
        "gpu",
        "epoch_offset",
        "findlr",
        "max_minutes",
        "init_from",
        "resume",
    },
    "predict": {"input", "sample_rate", "plot", "subtype"},
    "evaluate": {"features", "origin_dir", "target_dir"},
    "export": {"format"},
    "adapt": {"origin", "name"},
}


def _parsers():
    from timbre.cli import adapt, evaluate, export, features, predict, synthesize, train

    return {
        "synthesize": synthesize.build_parser(),
        "features": features.build_parser(),
        "train": train.build_parser("gan"),
        "train_generator": train.build_parser("generator"),
        "predict": predict.build_parser(),
        "evaluate": evaluate.build_parser(),
        "export": export.build_parser(),
        "adapt": adapt.build_parser(),
    }


def _configs():
    from timbre.evaluate.scoring import EvalConfig
    from timbre.recipes.adapt import AdaptConfig
    from timbre.settings import (
        ConvertConfig,
        FeatureConfig,
        ModelConfig,
        SynthConfig,
        TrainConfig,
    )

    return {
        "synthesize": [SynthConfig],
        "features": [FeatureConfig],
        "train": [TrainConfig, ModelConfig],
        "train_generator": [TrainConfig, ModelConfig],
        "predict": [ConvertConfig],
        "evaluate": [ConvertConfig, EvalConfig],
        "export": [],
        "adapt": [AdaptConfig],
    }


def test_every_flag_has_a_field_or_is_listed():
    import dataclasses

    configs = _configs()
    for command, parser in _parsers().items():
        fields = {f.name for config in configs[command] for f in dataclasses.fields(config)}
        listed = NOT_SETTINGS["common"] | NOT_SETTINGS[command.replace("_generator", "")]
        unbacked = {a.dest for a in parser._actions} - fields - listed
        assert unbacked == set(), command


def test_a_flags_default_is_its_fields():
    """A flag backed by a field defaults to the field's default (train's: None, resume keeps
    the saved value); synthesize's --renderer is the one command-line default of its own."""
    import dataclasses

    own = {("synthesize", "renderer")}  # the CLI renders whole pieces; the library's default: notes
    configs = _configs()
    for command, parser in _parsers().items():
        defaults = {f.name: f.default for c in configs[command] for f in dataclasses.fields(c)}
        for action in parser._actions:
            if action.dest not in defaults or (command, action.dest) in own:
                continue
            expected = None if command.startswith("train") else defaults[action.dest]
            if action.dest in ("keep_level", "notes"):  # on | off flags of bool fields
                expected = "on" if expected else "off"
            assert action.default == expected, (command, action.dest)


def test_predict_and_evaluate_agree_on_iterations(capsys):
    from timbre.cli import evaluate, predict

    messages = []
    for parser in (predict.build_parser(), evaluate.build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args(["--iterations", "0"])
        messages.append(capsys.readouterr().err.splitlines()[-1].split("error: ", 1)[1])
    assert messages == ["argument --iterations: 0 is not a positive integer"] * 2


@pytest.mark.parametrize("mode", ["gan", "generator"])
def test_lr_decay_reaches_train_config(mode):
    from timbre.cli import train
    from timbre.settings import TrainConfig

    args = train.build_parser(mode).parse_args(["--lr_decay", "cosine", "--epochs", "3"])
    model, config = train._overrides(args)
    assert model == {} and TrainConfig(**config) == TrainConfig(lr_decay="cosine", epochs=3)


def test_the_entry_points_program_name_lasts_one_command(capsys):
    from timbre import cli
    from timbre.cli import common

    assert cli.main(["models"]) == 0
    assert common.INVOKED_AS is None  # the next command in this process names itself


@pytest.mark.parametrize("entry", ["timbre", "command"])
def test_a_finished_process_ignores_a_late_ctrl_c(monkeypatch, capsys, entry):
    """Run as a process (argv None), a command ignores Ctrl-C once its work is done: a
    SIGINT during the interpreter's or TensorFlow's teardown once ended an export by the
    signal (exit -2, no message). Called with a list (tests, the API), nothing changes."""
    import signal

    from timbre.cli import models

    previous = signal.getsignal(signal.SIGINT)
    try:
        assert models.main([]) == 0
        assert signal.getsignal(signal.SIGINT) is previous
        monkeypatch.setattr(sys, "argv", ["timbre", "models"] if entry == "timbre" else ["m"])
        assert (cli.main() if entry == "timbre" else models.main()) == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "keyboard (default)" in capsys.readouterr().out
