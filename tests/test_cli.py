import argparse
import errno
import subprocess
import sys
from pathlib import Path

import pytest

from timbre import cli

ROOT = Path(__file__).resolve().parents[1]
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
