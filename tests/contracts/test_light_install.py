"""``pip install timbre`` without extras converts with an ONNX model, without TensorFlow.

A fresh virtual environment gets ``pip install <a copy of the repository>`` (no extras;
pip may use its cache and the package index). The copy keeps the build's ``build/`` and
``*.egg-info`` out of the working tree. The base packages are pinned to this
environment's versions, so the light install's conversion must equal this (full)
environment's bit for bit. Skipped, with the reason, only where ``venv`` or pip cannot
work at all (no ``ensurepip``, no package index reachable).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from contract_models import write_onnx_model
from helpers import sine

import timbre
from timbre.cli import predict

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]
BASE = ("numpy", "soundfile", "soxr", "onnxruntime", "tqdm")  # pyproject.toml's dependencies
HEAVY = (  # import names that only extras bring
    "tensorflow",
    "keras",
    "tensorboard",
    "tf2onnx",
    "librosa",
    "scipy",
    "numba",
    "matplotlib",
    "pretty_midi",
    "mido",
    "fluidsynth",
)
OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Network is unreachable|No route to host|ProxyError|ConnectTimeout"
)
RATE = 22050  # not the model's 16 kHz: resampling is part of the path


def _tail(done: subprocess.CompletedProcess, chars: int = 3000) -> str:
    return (done.stdout + done.stderr)[-chars:]


def _copy_source(destination: Path) -> Path:
    """What ``pip install`` builds from: pyproject.toml, README.md and the package."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "timbre", destination / "timbre", ignore=ignore)
    return destination


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    """A tiny model directory with generator.onnx (read-only)."""
    return write_onnx_model(tmp_path_factory.mktemp("onnx_model") / "model")


@pytest.fixture(scope="module")
def light(tmp_path_factory) -> Path:
    """The python of a fresh venv holding timbre without extras."""
    root = tmp_path_factory.mktemp("light_install")
    venv = root / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300
    )
    if made.returncode != 0:
        pytest.skip(f"python -m venv cannot make a virtual environment here: {_tail(made, 500)}")
    python = venv / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "--version"], capture_output=True, text=True, timeout=300
    )
    if pip.returncode != 0:
        pytest.skip(f"the new virtual environment has no working pip: {_tail(pip, 500)}")
    pins = root / "base-pins.txt"
    pins.write_text("".join(f"{n}=={importlib.metadata.version(n)}\n" for n in BASE))
    source = _copy_source(root / "source")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(pins), str(source)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    if install.returncode != 0 and OFFLINE.search(install.stdout + install.stderr):
        pytest.skip(f"pip cannot reach a package index: {_tail(install, 800)}")
    assert install.returncode == 0, f"pip install (no extras) failed:\n{_tail(install)}"
    return python


def _run(python: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    """Run in ``cwd`` (outside the repository, so its ``timbre/`` cannot shadow the install)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(python), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=600,
    )  # fmt: skip


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "piano.wav"
    tone = sine(220.0, 3.0, RATE, 0.3) + sine(660.0, 3.0, RATE, 0.1)
    sf.write(path, tone * np.linspace(0.2, 1.0, len(tone), dtype=np.float32), RATE)
    return path


def test_no_extra_is_installed(light, tmp_path):
    """Only the base packages: none of the extras' modules can be imported, the installed
    timbre is the one imported, and the shipped model came with it (package data)."""
    code = (
        "import importlib.util, json, sys\n"
        "import timbre\n"
        "from timbre.formats import shipped\n"
        f"heavy = [m for m in {HEAVY!r} if importlib.util.find_spec(m) is not None]\n"
        "models = {name: sorted(p.name for p in path.iterdir())\n"
        "          for name, path in shipped.available().items()}\n"
        "print(json.dumps([heavy, timbre.__file__, sys.prefix, models]))\n"
    )
    done = _run(light, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, _tail(done)
    heavy, where, prefix, models = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert Path(where).is_relative_to(prefix) and not Path(where).is_relative_to(ROOT)
    assert {"config.json", "generator.keras", "MODEL_CARD.md"} <= set(models["keyboard"])
    listed = _run(light.parent / "timbre", "models", cwd=tmp_path)
    assert listed.returncode == 0 and "keyboard (default)" in listed.stdout, _tail(listed)


def test_predict_equals_the_full_install(light, tmp_path, onnx_model, recording):
    """``timbre predict`` with an ONNX model: the same samples as predict.py here."""
    light_out, full_out = tmp_path / "light.wav", tmp_path / "full.wav"
    args = ["predict", "--model", onnx_model, "--input", recording, "--quiet"]
    done = _run(light.parent / "timbre", *args, "--output", light_out, cwd=tmp_path)
    assert done.returncode == 0, _tail(done)
    assert predict.main([*map(str, args[1:]), "--output", str(full_out)]) == 0
    light_samples, light_rate = sf.read(light_out, dtype="float32")
    full_samples, full_rate = sf.read(full_out, dtype="float32")
    source, _ = sf.read(recording, dtype="float32")
    assert light_rate == full_rate == RATE and light_samples.shape == source.shape
    assert np.all(np.isfinite(light_samples)) and np.abs(light_samples).max() > 1e-3
    np.testing.assert_array_equal(light_samples, full_samples)


def test_api_equals_the_full_install(light, tmp_path, onnx_model, recording):
    """``timbre.load_converter(...).convert``: ONNX Runtime, no TensorFlow, the same array."""
    code = (
        "import json, sys\n"
        "import numpy as np, soundfile as sf, timbre\n"
        "samples, rate = sf.read(sys.argv[2], dtype='float32')\n"
        "converter = timbre.load_converter(sys.argv[1])\n"
        "np.save(sys.argv[3], converter.convert(samples, sample_rate=rate))\n"
        "print(json.dumps([converter.backend, 'tensorflow' in sys.modules]))\n"
    )
    done = _run(light, "-c", code, onnx_model, recording, tmp_path / "light.npy", cwd=tmp_path)
    assert done.returncode == 0, _tail(done)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["onnx", False]
    samples, rate = sf.read(recording, dtype="float32")
    full = timbre.load_converter(onnx_model).convert(samples, sample_rate=rate)
    np.testing.assert_array_equal(np.load(tmp_path / "light.npy"), full)


def test_a_keras_only_model_names_the_extra(light, tmp_path, onnx_model, recording):
    """Without TensorFlow for real: one line for the command, MissingExtraError for the API."""
    keras_only = tmp_path / "keras_only"
    keras_only.mkdir()
    for name in ("config.json", "generator.keras"):
        shutil.copy2(onnx_model / name, keras_only / name)
    args = ["predict", "--model", keras_only, "--input", recording, "--output", "x.wav"]
    done = _run(light.parent / "timbre", *args, cwd=tmp_path)
    assert done.returncode == 1, _tail(done)
    assert done.stderr.strip().splitlines() == [
        "error: timbre predict needs TensorFlow, which is not installed: "
        "pip install 'timbre[train]'"
    ]
    code = (
        "import sys, timbre\n"
        "from timbre.errors import MissingExtraError\n"
        "try:\n"
        "    timbre.load_converter(sys.argv[1])\n"
        "except MissingExtraError as e:\n"
        "    print(e.extra)\n"
    )
    done = _run(light, "-c", code, keras_only, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "train", _tail(done)


def test_the_build_requirement_reads_the_pyproject_it_builds():
    """An SPDX ``license = "MIT"`` string needs setuptools 77 (older ones reject it), so the
    build requirement must ask for at least that."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (requirement,) = [r for r in project["build-system"]["requires"] if "setuptools" in r]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement.replace(" ", ""))
    assert minimum, f"{requirement!r}: expected setuptools>=N"
    if isinstance(project["project"].get("license"), str):
        assert int(minimum.group(1)) >= 77, requirement
