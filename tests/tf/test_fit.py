"""timbre.tf.fit (with the run settings, the model directory's checkpoints and life cycle, and
the learning-rate finder) and train*.py.

Training runs on tiny features made in tmp_path (32x32 tiles, base_filters=4, depth=5).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import FAST, SMALL_SPEC, TINY_MODEL, make_features

from timbre.io import audio
from timbre.settings import ModelConfig, SpectrogramConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _train(features: Path, model_dir: Path, **kwargs):
    from timbre.tf.fit import train

    kwargs.setdefault("model", TINY_MODEL)
    kwargs.setdefault("config", FAST)
    return train(features, model_dir, "keys", "strings", progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny GAN run of two epochs, shared by the tests that only read its outputs."""
    root = tmp_path_factory.mktemp("trained")
    features = make_features(root)
    return features, _train(features, root / "model")


def test_run_writes_the_model_directory(trained):
    from timbre.tf.checkpoints import read_history

    _, result = trained
    model_dir = result.model_dir
    config = json.loads((model_dir / "config.json").read_text())
    assert set(config) == {
        "version",
        "mode",
        "origin",
        "target",
        "origin_level_db",
        "features_path",
        "spectrogram",
        "model",
        "train",
    }
    assert (config["mode"], config["origin"], config["target"]) == ("gan", "keys", "strings")
    assert (
        SpectrogramConfig.from_dict(config["spectrogram"]) == SMALL_SPEC
        and ModelConfig.from_dict(config["model"]) == TINY_MODEL
    )
    history = read_history(model_dir)
    assert [row["epoch"] for row in history] == [1, 2] and result.epochs_done == 2
    for name in ("gen_total", "gen_gan", "gen_l1", "disc"):
        assert all(np.isfinite(row[name]) and np.isfinite(row[f"val_{name}"]) for row in history)
    assert sorted(p.name for p in (model_dir / "checkpoints").iterdir()) == [
        "epoch_0001.npz",
        "epoch_0002.npz",
    ]
    for epoch in (1, 2):
        assert (model_dir / "samples" / f"epoch_{epoch:03d}.png").stat().st_size > 1000
        wav, rate = audio.load(model_dir / "samples" / f"epoch_{epoch:03d}.wav")
        assert (
            rate == SMALL_SPEC.sample_rate
            and len(wav) == (SMALL_SPEC.tile_frames - 1) * SMALL_SPEC.hop_length
        )
    assert (model_dir / "curves.png").stat().st_size > 1000 and result.generator_path.exists()
    assert not [p for p in model_dir.rglob(".*tmp-*")]


def test_generator_loads_in_a_fresh_process(trained):
    _, result = trained
    code = f"""
import json, numpy as np, keras
model = keras.saving.load_model({str(result.generator_path)!r}, safe_mode=True)
tile = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
out = np.asarray(model(tile))
print(json.dumps([list(model.input_shape), list(out.shape), str(out.dtype),
                  float(out.min()), float(out.max()), bool(np.isfinite(out).all())]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    in_shape, out_shape, dtype, low, high, finite = json.loads(done.stdout.strip().splitlines()[-1])
    assert in_shape == [None, 32, 32, 1] and out_shape == [2, 32, 32, 1] and dtype == "float32"
    assert -1 <= low <= high <= 1 and finite


def _recorder(stop_after: int | None = None):
    """A user's Keras callback: counts ``fit`` calls, records each epoch's logs, and stops the
    run after epoch ``stop_after`` (0-based)."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.begins, self.epochs = 0, []

        def on_train_begin(self, logs=None) -> None:
            self.begins += 1

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.epochs.append((epoch, dict(logs)))
            if epoch == stop_after:
                self.model.stop_training = True

    return Recorder()


def test_a_resumed_run_counts_its_epochs_against_the_total(trained, tmp_path, capsys):
    """One ``fit`` from the completed epochs to the total: "Epoch 3/4", "Epoch 4/4"."""
    import shutil

    from timbre.tf.checkpoints import read_history
    from timbre.tf.fit import train

    features, result = trained
    model_dir = tmp_path / "model"
    shutil.copytree(result.model_dir, model_dir)
    recorder = _recorder()
    resumed = train(
        features,
        model_dir,
        "keys",
        "strings",
        resume=True,
        config={"epochs": 4},
        callbacks=[recorder],
    )
    shown = re.findall(r"Epoch (\d+)/(\d+)", capsys.readouterr().out)
    assert shown == [("3", "4"), ("4", "4")]
    assert recorder.begins == 1 and [epoch for epoch, _ in recorder.epochs] == [2, 3]
    history = read_history(model_dir)
    assert resumed.epochs_done == 4 and [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[:2] == read_history(result.model_dir)


def test_a_user_callback_sees_every_epoch_and_may_stop_the_run(tmp_path):
    from timbre.errors import ConfigError
    from timbre.tf.checkpoints import list_checkpoints, read_history

    features = make_features(tmp_path)
    recorder = _recorder(stop_after=1)
    result = _train(
        features,
        tmp_path / "model",
        config=dataclasses.replace(FAST, epochs=5),
        callbacks=[recorder],
    )
    assert recorder.begins == 1  # one fit for the run
    assert [epoch for epoch, _ in recorder.epochs] == [0, 1]
    history = read_history(tmp_path / "model")
    assert result.epochs_done == 2 and not result.stopped_by_budget
    assert [row["epoch"] for row in history] == [1, 2] == list(list_checkpoints(tmp_path / "model"))
    for (_, logs), row in zip(recorder.epochs, history):
        assert set(logs) == {"gen_total", "gen_gan", "gen_l1", "disc"} | {
            f"val_{name}" for name in ("gen_total", "gen_gan", "gen_l1", "disc")
        }
        assert all(float(value) == pytest.approx(row[name]) for name, value in logs.items())
    with pytest.raises(ConfigError, match="callbacks: 'stop' \\(expected keras.callbacks"):
        _train(features, tmp_path / "other", callbacks=["stop"])


def _cli_args(features: Path, model_dir: Path, *extra: str) -> list[str]:
    return [
        "--dataset_path",
        str(features),
        "--origin",
        "keys",
        "--target",
        "strings",
        "--model_dir",
        str(model_dir),
        "--base_filters",
        "4",
        "--depth",
        "5",
        "--batch_size",
        "4",
        "--steps_per_epoch",
        "3",
        "--seed",
        "3",
        "--quiet",
        *extra,
    ]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def _checkpoint_arrays(model_dir: Path, epoch: int) -> dict[str, np.ndarray]:
    with np.load(model_dir / "checkpoints" / f"epoch_{epoch:04d}.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    from timbre.tf.checkpoints import read_history

    features = make_features(tmp_path)
    reference = _start(
        _cli_args(features, tmp_path / "reference", "--epochs", "4", "--deterministic")
    )
    victim = _start(_cli_args(features, tmp_path / "victim", "--epochs", "4", "--deterministic"))
    first = tmp_path / "victim" / "checkpoints" / "epoch_0001.npz"
    deadline = time.monotonic() + 90
    while not first.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert victim.poll() is None, (
        "the run ended before it could be killed: " + victim.communicate()[1][-2000:]
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    killed_at = len(
        read_history(tmp_path / "victim")
    )  # 0 when killed between checkpoint 1 and its CSV row
    assert killed_at < 4
    resumed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *_cli_args(features, tmp_path / "victim", "--resume"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert reference.wait(timeout=120) == 0, reference.communicate()[1][-2000:]
    history, expected = read_history(tmp_path / "victim"), read_history(tmp_path / "reference")
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    for row, want in zip(
        history, expected
    ):  # gen_total = gen_gan + 100 gen_l1 may round differently (1 ulp)
        assert {k: v for k, v in row.items() if k not in ("seconds", "gen_total")} == {
            k: v for k, v in want.items() if k not in ("seconds", "gen_total")
        }
        assert row["gen_total"] == pytest.approx(want["gen_total"], rel=1e-6)
    state, want = (
        _checkpoint_arrays(tmp_path / "victim", 4),
        _checkpoint_arrays(tmp_path / "reference", 4),
    )
    assert state.keys() == want.keys()
    for name in state:
        if name != "meta":
            np.testing.assert_array_equal(
                state[name], want[name], err_msg=name
            )  # bit-exact with --deterministic


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from timbre.tf.distribute import make_strategy
from timbre.tf.fit import train
from timbre.settings import ModelConfig, TrainConfig
replicas = make_strategy("mirrored").num_replicas_in_sync
result = train(
    sys.argv[1], sys.argv[2], "keys", "strings",
    model=ModelConfig(base_filters=4, depth=5),
    config=TrainConfig(batch_size=4, epochs=1, steps_per_epoch=1, distribute="mirrored"),
    progress=False,
)
print(json.dumps({"replicas": replicas, "history": result.history}))
"""


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    features = make_features(
        tmp_path, split={"train": ["p0", "p1", "p2"], "test": ["p3"]}
    )  # no val: quicker
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(features), str(tmp_path / "model")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    (row,) = report["history"]
    assert all(np.isfinite(row[name]) for name in ("gen_total", "gen_gan", "gen_l1", "disc"))
    assert (tmp_path / "model" / "generator.keras").exists()


def test_generator_mode_bf16_without_split_uses_validation_fraction(tmp_path):
    from timbre.tf.fit import train

    features = make_features(
        tmp_path, split={"train": ["p0", "p1", "p2", "p3", "p4"]}, split_given=False
    )
    config = TrainConfig(
        batch_size=4, epochs=1, steps_per_epoch=2, validation_fraction=0.4, mixed_precision="bf16"
    )
    import keras

    result = train(
        features,
        tmp_path / "model",
        "keys",
        "strings",
        mode="generator",
        model=TINY_MODEL,
        config=config,
        progress=False,
    )
    (row,) = result.history
    assert set(row) == {"epoch", "gen_l1", "val_gen_l1", "gen_lr", "seconds"} and np.isfinite(
        row["val_gen_l1"]
    )
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    generator = keras.saving.load_model(result.generator_path, safe_mode=True)
    assert generator(np.zeros((1, 32, 32, 1), np.float32)).dtype == "float32"


def test_errors(trained, tmp_path):
    from timbre.errors import ConfigError, DatasetError, ModelError
    from timbre.tf.fit import train

    features, result = trained
    with pytest.raises(ConfigError, match="origin and target: both 'keys'"):
        train(features, tmp_path / "m", "keys", "keys", model=TINY_MODEL, config=FAST)
    with pytest.raises(DatasetError, match="target instrument 'flute' is not in the features"):
        train(features, tmp_path / "m", "keys", "flute", model=TINY_MODEL, config=FAST)
    with pytest.raises(ConfigError, match="batch_size=64: larger than the 16 training pairs"):
        _train(features, tmp_path / "m", config=TrainConfig(batch_size=64))
    with pytest.raises(ModelError, match="holds a training run already .*--resume .* --force"):
        _train(features, result.model_dir)
    with pytest.raises(ModelError, match="epoch_offset=1: the last completed epoch .* is 2"):
        _train(features, result.model_dir, resume=True, epoch_offset=1)
    other = make_features(
        tmp_path / "other",
        spec=SpectrogramConfig(
            sample_rate=16000, n_fft=256, hop_length=64, n_bins=32, tile_frames=32
        ),
    )
    with pytest.raises(
        ModelError,
        match="spectrogram settings differ from the resumed model's \\(hop_length=128 vs 64",
    ):
        _train(other, result.model_dir, resume=True)
    with pytest.raises(ModelError, match="model settings differ"):
        _train(features, result.model_dir, resume=True, model=ModelConfig(base_filters=8, depth=5))
    with pytest.raises(
        ConfigError, match="n_bins=32 is not a positive multiple of 2\\*\\*depth=64"
    ):
        _train(features, tmp_path / "m", model=ModelConfig(base_filters=4, depth=6))
    assert not (tmp_path / "m").exists() or not (tmp_path / "m" / "config.json").exists()


def test_cli_train_generator_resume_and_force(tmp_path, capsys):
    from timbre.cli import train_generator
    from timbre.tf.checkpoints import read_history

    features = make_features(tmp_path)
    args = _cli_args(features, tmp_path / "model", "--epochs", "1")
    assert (
        train_generator.main([*args[:-1], "30", "--max_minutes", "1e-4"]) == 0
    )  # budget: stops after epoch 1
    assert "1 epoch(s) done (time budget reached)" in capsys.readouterr().out
    assert (tmp_path / "model" / "generator.keras").exists()
    assert train_generator.main(args) == 1
    assert "holds a training run already" in capsys.readouterr().err
    assert train_generator.main([*args[:-1], "2", "--resume"]) == 0
    assert [row["epoch"] for row in read_history(tmp_path / "model")] == [1, 2]
    assert json.loads((tmp_path / "model" / "config.json").read_text())["train"]["epochs"] == 2
    assert train_generator.main([*args, "--force"]) == 0
    assert [row["epoch"] for row in read_history(tmp_path / "model")] == [1]


def test_cli_findlr_writes_sweep(tmp_path, capsys):
    from timbre.cli import train
    from timbre.tf import lr_finder

    features = make_features(tmp_path)
    assert train.main(_cli_args(features, tmp_path / "model", "--findlr")) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate:" in out
    rows = (tmp_path / "model" / lr_finder.CSV_FILE).read_text().splitlines()
    assert rows[0] == "learning_rate,loss,smoothed" and len(rows) > 3
    assert (tmp_path / "model" / lr_finder.PNG_FILE).stat().st_size > 1000
    assert not (tmp_path / "model" / "config.json").exists()  # the sweep leaves no run behind


def test_suggest_picks_the_steepest_descent():
    from timbre.tf.lr_finder import suggest

    rates = np.geomspace(1e-6, 1, 61)
    loss = (
        2 - np.tanh(np.log10(rates) + 3) + np.where(rates > 0.1, 50 * (rates - 0.1), 0)
    )  # steepest at 1e-3
    assert suggest(rates, loss) == pytest.approx(1e-3, rel=0.25)
    assert suggest(rates[:2], np.array([1.0, 2.0])) == rates[0]


def test_checkpoint_round_trip_and_refusals(trained, tmp_path):
    from timbre.errors import ModelError
    from timbre.tf.checkpoints import load_checkpoint, save_checkpoint
    from timbre.tf.distribute import make_strategy
    from timbre.tf.fit import build_model
    from timbre.tf.run import Run

    _, result = trained
    path = result.model_dir / "checkpoints" / "epoch_0002.npz"
    run = Run(Path("f"), tmp_path, "gan", "keys", "strings", SMALL_SPEC, TINY_MODEL, FAST)
    model = build_model(run, make_strategy("none"))
    epoch, history = load_checkpoint(model, path)
    assert epoch == 2 and [row["epoch"] for row in history] == [1, 2]
    assert model.optimizer.iterations.numpy() == 6 and model.disc_optimizer.iterations.numpy() == 6
    saved = save_checkpoint(model, tmp_path, epoch, history, keep=1)
    with np.load(saved, allow_pickle=False) as again, np.load(path, allow_pickle=False) as first:
        assert all(
            np.array_equal(again[name], first[name]) for name in first.files if name != "meta"
        )
    bigger = build_model(
        dataclasses.replace(run, model=ModelConfig(base_filters=8, depth=5)),
        make_strategy("none"),
    )
    with pytest.raises(ModelError, match="has shape .* same architecture"):
        load_checkpoint(bigger, path)
    (tmp_path / "bad.npz").write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelError, match="bad.npz: unreadable checkpoint"):
        load_checkpoint(model, tmp_path / "bad.npz")


def test_resume_restores_a_csv_row_lost_to_a_kill(trained, tmp_path):
    import shutil

    from timbre.tf.checkpoints import read_history

    features, result = trained
    model_dir = tmp_path / "model"
    shutil.copytree(result.model_dir, model_dir)
    lines = (model_dir / "history.csv").read_text().splitlines(keepends=True)
    (model_dir / "history.csv").write_text(
        "".join(lines[:2])
    )  # killed after checkpoint 2, before its row
    (model_dir / "generator.keras").unlink()  # ... and before the export
    resumed = _train(features, model_dir, resume=True, config=None, model=None)
    assert resumed.epochs_done == 2 and [row["epoch"] for row in read_history(model_dir)] == [1, 2]
    assert read_history(model_dir) == read_history(result.model_dir)
    assert (model_dir / "generator.keras").exists()


def test_exported_generator_is_the_best_validated_epoch():
    from timbre.tf.run_dir import is_best_epoch

    rows = [
        {"epoch": 1, "val_gen_l1": 0.3},
        {"epoch": 2, "val_gen_l1": 0.2},
        {"epoch": 3, "val_gen_l1": 0.5},
    ]
    assert [is_best_epoch(rows[:n]) for n in (1, 2, 3)] == [True, True, False]
    assert is_best_epoch(
        rows + [{"epoch": 4, "val_gen_l1": 0.2}]
    )  # a tie with the best exports the newer one
    assert is_best_epoch(
        [{"epoch": 1, "gen_l1": 0.3}, {"epoch": 2, "gen_l1": 0.4}]
    )  # no validation: the last
    assert is_best_epoch(
        rows[:2] + [{"epoch": 3, "val_gen_l1": float("nan")}]
    )  # no score: exported as before


def test_cosine_decay_falls_to_the_floor_and_survives_a_restore(tmp_path):
    from timbre.tf.distribute import make_strategy
    from timbre.tf.fit import LR_FLOOR, build_model
    from timbre.tf.run import Run

    config = dataclasses.replace(FAST, lr_decay="cosine", gen_lr=1e-3)
    run = Run(Path("f"), tmp_path, "generator", "keys", "strings", SMALL_SPEC, TINY_MODEL, config)
    net = build_model(run, make_strategy("none"), total_steps=10)
    rate = net.optimizer.learning_rate
    assert float(rate) == pytest.approx(1e-3)
    net.optimizer.iterations.assign(5)
    assert float(net.optimizer.learning_rate) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    net.optimizer.iterations.assign(10)
    assert float(net.optimizer.learning_rate) == pytest.approx(1e-3 * LR_FLOOR)
    constant = build_model(dataclasses.replace(run, train=FAST), make_strategy("none"))
    constant.optimizer.iterations.assign(10)
    assert float(constant.optimizer.learning_rate) == pytest.approx(FAST.gen_lr)


class FakeClock:
    """A clock that moves only when told: ``step_s`` seconds after every training step."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.now = start_s

    def __call__(self) -> float:
        return self.now


def _clock_recorder(clock: FakeClock, step_s: float):
    """A callback that records the generator's learning rate before each step, then lets
    ``step_s`` seconds pass on ``clock``."""
    import keras

    class Recorder(keras.callbacks.Callback):
        rates: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self.rates.append(float(self.model.optimizer.learning_rate))

        def on_train_batch_end(self, batch, logs=None):
            clock.now += step_s

    recorder = Recorder()
    recorder.rates = []
    return recorder


def test_a_time_boxed_cosine_reaches_its_floor_when_time_runs_out_and_resumes_there(tmp_path):
    from timbre.tf.fit import LR_FLOOR

    features = make_features(tmp_path)
    config = dataclasses.replace(FAST, epochs=3, lr_decay="cosine", gen_lr=1e-3)  # 9 steps
    clock = FakeClock()
    recorder = _clock_recorder(clock, step_s=10.0)  # 30 s an epoch; the budget is 45 s
    result = _train(
        features, tmp_path / "model", mode="generator", config=config, max_minutes=0.75,
        callbacks=[recorder], clock=clock,
    )  # fmt: skip
    assert result.epochs_done == 2 and result.stopped_by_budget  # 60 s >= 45 s after epoch 2
    assert [row["seconds"] for row in result.history] == [30.0, 30.0]  # the fake clock's
    by_time = [min(10.0 * k / 45.0, 1.0) for k in range(6)]  # ahead of the steps' k / 9
    expected = [1e-3 * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + np.cos(np.pi * p))) for p in by_time]
    assert recorder.rates == pytest.approx(expected, rel=1e-5)
    assert recorder.rates[-1] == pytest.approx(1e-3 * LR_FLOOR)  # at 50 s: time is up
    # history.csv says where the schedule stood after each epoch: at its floor by the end
    assert result.history[0]["gen_lr"] == pytest.approx(expected[2], rel=1e-5)  # at 20 s
    assert result.history[-1]["gen_lr"] == pytest.approx(1e-3 * LR_FLOOR, rel=1e-5)
    # resumed (after any pause: the clock jumps) with the 60 s already spent: still at the floor,
    # where counting steps alone (6 of 9 done) would have climbed back to a third of the way
    clock.now = 1000.0
    again = _clock_recorder(clock, step_s=10.0)
    resumed = _train(
        features, tmp_path / "model", mode="generator", config=config, max_minutes=0.75,
        callbacks=[again], clock=clock, resume=True,
    )  # fmt: skip
    assert resumed.epochs_done == 3
    assert again.rates == pytest.approx([1e-3 * LR_FLOOR] * 3, rel=1e-5)
    by_steps = 1e-3 * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + np.cos(np.pi * 6 / 9)))
    assert by_steps > 3 * again.rates[0]


def test_without_a_budget_the_cosine_counts_steps_alone(tmp_path):
    from timbre.tf.fit import LR_FLOOR

    features = make_features(tmp_path)
    config = dataclasses.replace(FAST, epochs=1, lr_decay="cosine", gen_lr=1e-3)  # 3 steps
    clock = FakeClock()
    recorder = _clock_recorder(clock, step_s=1e6)  # time flies, but no budget was given
    _train(
        features, tmp_path / "model", mode="generator", config=config, callbacks=[recorder],
        clock=clock,
    )  # fmt: skip
    expected = [
        1e-3 * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + np.cos(np.pi * k / 3))) for k in range(3)
    ]
    assert recorder.rates == pytest.approx(expected, rel=1e-5)
