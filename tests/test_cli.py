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
    listed = capsys.readouterr().err
    assert all(
        name in listed
        for name in ("synthesize", "features", "train-generator", "predict", "evaluate", "demo")
    )
    assert cli.main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err
