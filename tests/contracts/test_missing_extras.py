"""A command or API call that needs a package of a missing extra says so in one line.

Missing packages are simulated in a fresh interpreter with ``sys.modules[name] = None``
(the import then fails as if the package were not installed); tests/contracts/
test_light_install.py checks the same on a real install without extras.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from contract_models import write_onnx_model
from helpers import FEATURE_INSTRUMENTS, SMALL_SPEC, sine, write_feature_store

from timbre.cli import common
from timbre.errors import EXTRAS, MissingExtraError, ModelError, TimbreError
from timbre.io import audio

ROOT = Path(__file__).resolve().parents[2]
RUN_BLOCKED = (
    "import runpy, sys\n"
    "blocked, sys.argv = sys.argv[1].split(','), sys.argv[2:]\n"
    "for name in blocked:\n"
    "    sys.modules[name] = None  # the import fails as without the package\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    """A tiny model directory with generator.onnx (read-only)."""
    return write_onnx_model(tmp_path_factory.mktemp("onnx_model") / "model")


def run_without(blocked: str, script: str, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    """Run ``script`` (a top-level script of the repository) with ``blocked`` not importable."""
    command = [sys.executable, "-c", RUN_BLOCKED, blocked, str(ROOT / script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == [expected], done.stderr[-3000:]
    assert "Traceback" not in done.stderr


@pytest.fixture
def wav(tmp_path) -> Path:
    path = tmp_path / "in.wav"
    audio.save(path, sine(440.0, 2.0, SMALL_SPEC.sample_rate), SMALL_SPEC.sample_rate)
    return path


@pytest.fixture
def keras_only_model(tmp_path, onnx_model) -> Path:
    """``onnx_model`` without its generator.onnx: conversion needs the Keras runtime."""
    folder = tmp_path / "keras_only"
    folder.mkdir()
    for name in ("config.json", "generator.keras"):
        shutil.copy2(onnx_model / name, folder / name)
    return folder


@pytest.fixture
def features(tmp_path) -> Path:
    pieces = {"a": (3, "train"), "b": (2, "val"), "c": (2, "test")}
    return write_feature_store(tmp_path / "features", pieces, SMALL_SPEC)


def test_train_without_tensorflow(tmp_path, features):
    origin, target = FEATURE_INSTRUMENTS
    for script in ("train.py", "train_generator.py"):
        done = run_without(
            "tensorflow",
            script,
            *("--dataset_path", features, "--origin", origin, "--target", target),
            *("--model_dir", tmp_path / script, "--quiet"),
        )
        install = "needs TensorFlow, which is not installed: pip install 'timbre[train]'"
        assert_one_line(done, f"error: {script} {install}")


def test_synthesize_without_pretty_midi(tmp_path):
    done = run_without(
        "pretty_midi",
        "synthesize_audios.py",
        *("--audios_path", tmp_path / "audios", "--instruments", ",".join(FEATURE_INSTRUMENTS)),
        "--quiet",
    )
    assert_one_line(
        done,
        "error: synthesize_audios.py needs pretty_midi, which is not installed: "
        "pip install 'timbre[synth]'",
    )
    assert not (tmp_path / "audios" / "manifest.json").exists()


def test_predict_keras_only_model_without_tensorflow(tmp_path, wav, keras_only_model):
    output = tmp_path / "out.wav"
    done = run_without(
        "tensorflow,keras", "predict.py", "--model", keras_only_model, "--input", wav,
        "--output", output, "--quiet",
    )  # fmt: skip
    assert_one_line(
        done,
        "error: predict.py needs TensorFlow, which is not installed: pip install 'timbre[train]'",
    )
    assert not output.exists()


def test_predict_plot_without_matplotlib(tmp_path, wav, onnx_model):
    done = run_without(
        "matplotlib", "predict.py", "--model", onnx_model, "--input", wav,
        "--output", tmp_path / "out.wav", "--plot", "--quiet",
    )  # fmt: skip
    assert_one_line(
        done,
        "error: predict.py needs matplotlib, which is not installed: pip install 'timbre[plot]'",
    )
    assert not (tmp_path / "out.png").exists()


def test_evaluate_without_librosa(tmp_path, onnx_model, features):
    done = run_without(
        "librosa", "evaluate.py", "--model", onnx_model, "--features", features,
        "--output", tmp_path / "eval", "--quiet",
    )  # fmt: skip
    assert_one_line(
        done,
        "error: evaluate.py needs librosa, which is not installed: pip install 'timbre[evaluate]'",
    )


def test_evaluate_recorded_without_pyroomacoustics(tmp_path, onnx_model, features):
    done = run_without(
        "pyroomacoustics", "evaluate.py", "--model", onnx_model, "--features", features,
        "--output", tmp_path / "eval", "--quiet", "--condition", "recorded",
    )  # fmt: skip
    assert_one_line(
        done,
        "error: the 'recorded' condition needs pyroomacoustics, which is not installed: "
        "pip install 'timbre[evaluate]'",
    )
    assert not (tmp_path / "eval" / "results.json").exists()


def test_timbre_command_names_itself(tmp_path, keras_only_model):
    """Through the ``timbre`` entry point the line names ``timbre <command>``."""
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None\n"
        "from timbre.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    args = ["export", "--model", str(keras_only_model), "--format", "generator_onnx"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert_one_line(
        done,
        "error: timbre export needs TensorFlow, which is not installed: "
        "pip install 'timbre[train]'",
    )


def test_api_keras_runtime_without_tensorflow(wav, keras_only_model, onnx_model):
    """``load_converter`` raises MissingExtraError (a TimbreError and an ImportError) that
    names the extra and, for a model without generator.onnx, how to add one."""
    code = (
        "import json, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "import timbre\n"
        "from timbre.errors import MissingExtraError\n"
        "out = {}\n"
        "for name, model, backend in [('keras_only', sys.argv[1], 'auto'),\n"
        "                             ('forced', sys.argv[2], 'keras')]:\n"
        "    try:\n"
        "        timbre.load_converter(model, backend=backend)\n"
        "    except MissingExtraError as e:\n"
        "        kinds = [isinstance(e, ImportError), isinstance(e, timbre.errors.TimbreError)]\n"
        "        out[name] = [str(e), e.extra, e.package, e.name, *kinds]\n"
        "out['onnx'] = timbre.load_converter(sys.argv[2]).backend\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(keras_only_model), str(onnx_model)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    install = "needs TensorFlow, which is not installed: pip install 'timbre[train]'"
    assert out["keras_only"] == [
        f"{keras_only_model}: converting with Keras {install}; or add generator.onnx to "
        f"{keras_only_model} with `timbre export --model {keras_only_model} --format "
        "generator_onnx` where TensorFlow is installed",
        "train",
        "TensorFlow",
        "tensorflow",
        True,
        True,
    ]
    assert out["forced"][0] == f"{onnx_model}: converting with Keras {install}"
    assert out["onnx"] == "onnx"  # the ONNX runtime needs no TensorFlow at all


# --- the mapping itself, in-process ----------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="thing.py")


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_run_names_the_extra_of_every_mapped_module(capsys, module):
    def body(args):
        raise ModuleNotFoundError(f"No module named '{module}.sub'", name=f"{module}.sub")

    assert common.run(_parser(), body, []) == 1
    package, extra = EXTRAS[module]
    assert capsys.readouterr().err == (
        f"error: thing.py needs {package}, which is not installed: pip install 'timbre[{extra}]'\n"
    )


def test_run_lets_an_unknown_missing_module_through():
    """A module no extra provides is a bug, not a set-up problem: its traceback stays."""

    def body(args):
        raise ModuleNotFoundError("No module named 'timbre.nothing'", name="timbre.nothing")

    with pytest.raises(ModuleNotFoundError, match="timbre.nothing"):
        common.run(_parser(), body, [])


def test_missing_extra_error():
    error = MissingExtraError("train.py", "keras", hint="or else")
    assert isinstance(error, TimbreError) and isinstance(error, ImportError)
    assert not isinstance(error, ModelError)
    assert str(error) == (
        "train.py needs Keras, which is not installed: pip install 'timbre[train]'; or else"
    )
    assert (error.package, error.extra, error.name) == ("Keras", "train", "keras")
    assert MissingExtraError.from_import_error(ImportError("x"), "a") is None  # not a missing one
    assert MissingExtraError.from_import_error(ModuleNotFoundError("x"), "a") is None  # no name
    found = MissingExtraError.from_import_error(ModuleNotFoundError("x", name="scipy.signal"), "a")
    assert (found.package, found.extra) == ("SciPy", "synth")


def test_every_extra_is_declared():
    """Each extra a message names is one pyproject.toml declares."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = declared["optional-dependencies"]
    assert {extra for _, extra in EXTRAS.values()} <= set(extras)
    assert {"train", "synth", "evaluate", "plot", "test", "all"} <= set(extras)
