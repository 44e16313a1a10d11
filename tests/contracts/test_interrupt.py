"""Every stage killed mid-run (SIGKILL) or interrupted (SIGINT, as Ctrl-C sends it to the whole
process group), then continued with the command its message documents.

Each command runs in a subprocess whose atomic renames are slowed down (a hook in front of the
command sleeps before each visible file is renamed into place), so the signal lands, at a point
drawn from a seeded generator after some outputs exist, between two output files. The continued
run must equal an uninterrupted one (bit for bit: synthesis, features, predict, and training with
--deterministic), leave no temporary file, and not touch what was finished before the signal
(mtimes unchanged).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import (
    SMALL_SPEC,
    identity_generator,
    make_features,
    sine,
    write_audio_folder,
    write_midi,
)
from helpers import write_model_dir as make_model_dir

ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 0.6  # the hook's sleep before each visible rename
SIGNALS = {"kill": signal.SIGKILL, "int": signal.SIGINT}
HOOK = """
import os, signal, sys, time
# Ctrl-C as a terminal delivers it, even when the test runs in a background job (a shell
# starts those with SIGINT ignored, and the child would inherit that)
signal.signal(signal.SIGINT, signal.default_int_handler)
real = os.replace
def replace(src, dst, *args, **kwargs):
    if not os.path.basename(os.fspath(dst)).startswith("."):
        time.sleep(float(os.environ["TIMBRE_TEST_SLOW"]))
    return real(src, dst, *args, **kwargs)
if os.environ.get("TIMBRE_TEST_SLOW"):
    os.replace = replace
import importlib
sys.exit(importlib.import_module("timbre.cli." + sys.argv[1]).main(sys.argv[2:]))
"""


def start(command: str, args: list[str], logs: Path, slow: bool) -> subprocess.Popen:
    """``timbre.cli.<command>.main(args)`` in a new process group, output to ``logs``.*."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TIMBRE_TEST_SLOW": str(SLOW_S) * slow}
    return subprocess.Popen(
        [sys.executable, "-c", HOOK, command, *args],
        cwd=ROOT,
        env=env,
        stdout=open(f"{logs}.out", "w"),  # noqa: SIM115 (closed with the process)
        stderr=open(f"{logs}.err", "w"),  # noqa: SIM115
        start_new_session=True,
    )


def finish(process: subprocess.Popen, logs: Path, timeout: float = 240) -> tuple[int, str]:
    status = process.wait(timeout=timeout)
    return status, Path(f"{logs}.err").read_text()


def run(command: str, args: list[str], logs: Path) -> str:
    """Run to the end; returns stderr (asserting exit status 0)."""
    status, err = finish(start(command, args, logs, slow=False), logs)
    assert status == 0, err[-3000:]
    return err


class Reference:
    """An uninterrupted run, started at once and waited for when its outputs are needed (it
    runs while the interrupted one does)."""

    def __init__(self, command: str, args: list[str], folder: Path) -> None:
        self.folder, self.logs = folder, folder.parent / f"{folder.name}-log"
        self.process = start(command, args, self.logs, slow=False)

    def done(self) -> Path:
        status, err = finish(self.process, self.logs)
        assert status == 0, err[-3000:]
        return self.folder


def interrupt(
    command: str, args: list[str], logs: Path, outputs, how: str, seed: int, total: int
) -> dict[Path, int]:
    """Start slowed down, wait until a seeded number of ``outputs()`` exist, send the signal.

    Returns:
        The mtimes (ns) of the outputs that existed once the process had stopped.
    """
    wanted = int(np.random.default_rng(seed).integers(1, total))
    process = start(command, args, logs, slow=True)
    deadline = time.monotonic() + 180
    while len(outputs()) < wanted:
        assert process.poll() is None, Path(f"{logs}.err").read_text()[-3000:]
        assert time.monotonic() < deadline, "no outputs appeared"
        time.sleep(0.02)
    time.sleep(SLOW_S / 2)  # now inside the sleep before the next rename
    assert process.poll() is None, "the run ended before the signal"
    os.killpg(process.pid, SIGNALS[how])
    status, err = finish(process, logs)
    assert "Traceback" not in err, err[-3000:]
    if how == "kill":
        assert status == -signal.SIGKILL
    else:
        assert status == 130 and "interrupted; " in err, err[-3000:]
    return {path: path.stat().st_mtime_ns for path in outputs()}


def assert_untouched(before: dict[Path, int]) -> None:
    assert before, "nothing was finished before the signal"
    changed = [path for path, mtime in before.items() if path.stat().st_mtime_ns != mtime]
    assert not changed, f"recomputed after the interruption: {changed}"


def assert_clean(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".tmp-" in p.name or p.name == ".timbre.lock"]
    assert not leftovers, leftovers


# --- synthesize_audios.py -----------------------------------------------------------------------

N_PIECES = 6
INSTRUMENTS = ("keyboard_acoustic", "string_acoustic")


@pytest.fixture(scope="module")
def synthesis(tmp_path_factory, nsynth_folder):
    """MIDI files, the command line, and an uninterrupted reference run."""
    root = tmp_path_factory.mktemp("synthesis")
    for k in range(N_PIECES):
        notes = [(0.1 * i, 0.1 * i + 0.3, 57 + (k + i) % 12, 60 + 5 * i) for i in range(6)]
        write_midi(root / "midi" / f"piece{k}.mid", notes)

    def args(out: Path) -> list[str]:
        return [
            "--audios_path", str(out), "--midi_path", str(root / "midi"), "--nsynth_path",
            str(nsynth_folder), "--instruments", "keyboard_acoustic,string_acoustic", "--pool",
            "none", "--jobs", "2", "--quiet",
        ]  # fmt: skip

    return Reference("synthesize", args(root / "reference"), root / "reference"), args


@pytest.mark.parametrize("how", ["kill", "int"])
def test_synthesis_resumes_where_it_stopped(synthesis, tmp_path, how):
    reference, args = synthesis
    out = tmp_path / "audios"

    def complete() -> list[Path]:  # the files of the pieces whose every instrument is written
        pieces = [[out / i / f"piece{k}.wav" for i in INSTRUMENTS] for k in range(N_PIECES)]
        return [path for files in pieces if all(p.exists() for p in files) for path in files]

    before = interrupt("synthesize", args(out), tmp_path / "victim", complete, how, 11, N_PIECES)
    run("synthesize", args(out), tmp_path / "again")  # the same command
    assert_untouched(before)
    reference = reference.done()
    got = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert got == sorted(p.relative_to(reference) for p in reference.rglob("*.wav"))
    assert all((out / p).read_bytes() == (reference / p).read_bytes() for p in got)
    assert json.loads((out / "manifest.json").read_text()) == json.loads(
        (reference / "manifest.json").read_text()
    )
    assert_clean(out)


# --- compute_features.py ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feature_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    audios = write_audio_folder(root / "audios", {f"p{k}": (2.0, "train") for k in range(N_PIECES)})
    SMALL_SPEC.save(root / "spec.json")

    def args(out: Path) -> list[str]:
        return [
            "--audios_path", str(audios), "--features_path", str(out), "--spectrogram_config",
            str(root / "spec.json"), "--jobs", "2", "--quiet",
        ]  # fmt: skip

    return Reference("features", args(root / "reference"), root / "reference"), args


@pytest.mark.parametrize("how", ["kill", "int"])
def test_features_resume_where_they_stopped(feature_run, tmp_path, how):
    reference, args = feature_run
    out = tmp_path / "features"

    def tiles() -> list[Path]:
        return sorted(p for p in out.glob("*/*.npy") if not p.name.startswith("."))

    before = interrupt("features", args(out), tmp_path / "victim", tiles, how, 12, 2 * N_PIECES)
    run("features", args(out), tmp_path / "again")
    assert_untouched(before)
    reference = reference.done()
    got = sorted(p.relative_to(out) for p in tiles())
    assert got == sorted(p.relative_to(reference) for p in reference.glob("*/*.npy"))
    assert all((out / p).read_bytes() == (reference / p).read_bytes() for p in got)
    assert json.loads((out / "manifest.json").read_text()) == json.loads(
        (reference / "manifest.json").read_text()
    )
    assert_clean(out)


# --- predict.py ---------------------------------------------------------------------------------

N_FILES = 5


@pytest.fixture(scope="module")
def prediction(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    model = make_model_dir(root / "model", SMALL_SPEC, identity_generator(SMALL_SPEC))
    (root / "in").mkdir()
    for k in range(N_FILES):
        sf.write(root / "in" / f"take{k}.wav", sine(220.0 * (k + 1), 1.5, 16000), 16000)

    def args(out: Path) -> list[str]:
        return ["--model", str(model), "--input", str(root / "in"), "--output", str(out)]

    return Reference("predict", args(root / "reference"), root / "reference"), args


@pytest.mark.parametrize("how", ["kill", "int"])
def test_predict_continues_without_force(prediction, tmp_path, how):
    reference, args = prediction
    out = tmp_path / "out"

    def converted() -> list[Path]:
        return sorted(p for p in out.glob("*.wav") if not p.name.startswith("."))

    before = interrupt("predict", args(out), tmp_path / "victim", converted, how, 13, N_FILES)
    if how == "int":
        err = (tmp_path / "victim.err").read_text()
        assert "rerun the same command to convert the rest; finished files are kept" in err
    err = run("predict", args(out), tmp_path / "again")  # no --force needed
    assert_untouched(before)
    assert (
        f"{len(before)} of {N_FILES} files already converted"
        in (tmp_path / "again.out").read_text()
    ), err
    reference = reference.done()
    assert [p.name for p in converted()] == [p.name for p in sorted(reference.glob("*.wav"))]
    for path in converted():
        np.testing.assert_array_equal(sf.read(path)[0], sf.read(reference / path.name)[0])
    assert_clean(out)
    assert not (out / ".timbre-predict.json").exists()  # finished: the record is gone


# --- train.py -----------------------------------------------------------------------------------

EPOCHS = 2


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    features = make_features(root)

    def args(model: Path, *extra: str) -> list[str]:
        return [
            "--dataset_path", str(features), "--origin", "keys", "--target", "strings",
            "--model_dir", str(model), "--base_filters", "4", "--depth", "5", "--batch_size",
            "4", "--steps_per_epoch", "2", "--seed", "3", "--epochs", str(EPOCHS),
            "--keep_checkpoints", str(EPOCHS), "--deterministic", "--quiet", *extra,
        ]  # fmt: skip

    return Reference("train", args(root / "reference"), root / "reference"), args


@pytest.mark.parametrize("how", ["kill", "int"])
def test_training_resumes_bit_for_bit(training, tmp_path, how):
    reference, args = training
    model = tmp_path / "model"

    def checkpoints() -> list[Path]:
        return sorted((model / "checkpoints").glob("epoch_*.npz"))

    before = interrupt("train", args(model), tmp_path / "victim", checkpoints, how, 14, EPOCHS)
    if how == "int":
        assert "rerun the same command with --resume" in (tmp_path / "victim.err").read_text()
    run("train", args(model, "--resume"), tmp_path / "again")
    assert_untouched(before)
    reference = reference.done()
    assert [p.name for p in checkpoints()] == [
        p.name for p in sorted((reference / "checkpoints").glob("*.npz"))
    ]
    last = f"epoch_{EPOCHS:04d}.npz"
    with (
        np.load(model / "checkpoints" / last) as got,
        np.load(reference / "checkpoints" / last) as want,
    ):
        assert got.files == want.files
        for name in got.files:
            if name != "meta":
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    history = (model / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == [str(e) for e in range(1, EPOCHS + 1)]
    assert_clean(model)
