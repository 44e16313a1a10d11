"""Scale-out on one machine (issue #18): MirroredStrategy on two logical CPUs, and a cluster of
two MultiWorkerMirroredStrategy workers (chief + worker) on localhost ports.

Each run happens in fresh processes: devices and collectives must be configured before
TensorFlow starts. Every child has a timeout, so a hang fails the test instead of blocking.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL_SPEC, TINY_MODEL, write_feature_store

ROOT = Path(__file__).resolve().parents[2]
ORIGIN, TARGET = "keyboard_acoustic", "string_acoustic"  # helpers.FEATURE_INSTRUMENTS
LOSS_RTOL = 1e-4  # mirrored vs one device: logged losses (measured: ~1e-7)
STATE_RTOL = 1e-3  # mirrored vs one device: weights vs one epoch's change, Adam slots (~3e-6)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **extra}


def _codes(tiles: np.ndarray) -> list[int]:
    """Piece numbers of a batch of tiles filled by ``write_feature_store``'s default (one tile per
    piece: every value of piece ``p``'s tile is ``p / 100``)."""
    return [int(round(float(value) * 100)) for value in np.asarray(tiles)[:, 0, 0, 0]]


def _checkpoint(model_dir: Path, epoch: int) -> tuple[list[str], list[np.ndarray]]:
    """(variable paths, values) of ``checkpoints/epoch_XXXX.npz``."""
    with np.load(model_dir / "checkpoints" / f"epoch_{epoch:04d}.npz", allow_pickle=False) as data:
        paths = json.loads(str(data["meta"]))["paths"]
        return paths, [data[f"v{i:04d}"] for i in range(len(paths))]


def _flat(values: list[np.ndarray], keep: list[bool]) -> np.ndarray:
    return np.concatenate([v.ravel() for v, k in zip(values, keep) if k]).astype(np.float64)


# --- Several devices in one machine: MirroredStrategy on two logical CPUs.

MIRRORED = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from timbre.settings import ModelConfig, TrainConfig
from timbre.tf import fit
from timbre.tf import pix2pix

replica_batches, replicas = [], []
train_step = pix2pix.Pix2Pix.train_step


def recording_step(self, data):  # what each replica's step gets: its batch, the replica count
    replicas.append(tf.distribute.get_replica_context().num_replicas_in_sync)
    size = tf.shape(data[0])[0]
    tf.numpy_function(lambda n: replica_batches.append(int(n)) or np.int64(0), [size], tf.int64)
    return train_step(self, data)


pix2pix.Pix2Pix.train_step = recording_step
features, root = sys.argv[1], sys.argv[2]
model = ModelConfig(base_filters=4, depth=5, dropout=0.0)


def train(name, distribute, epochs, resume=False):
    replica_batches.clear()
    replicas.clear()
    config = TrainConfig(
        batch_size=4, epochs=epochs, steps_per_epoch=2, seed=3, distribute=distribute
    )
    result = fit.train(features, f"{root}/{name}", "keyboard_acoustic", "string_acoustic",
                       model=model, config=config, resume=resume, progress=False)
    return {"history": result.history, "batches": list(replica_batches), "replicas": list(replicas)}


print(json.dumps({
    "single": train("single", "none", 2),
    "first": train("mirrored", "mirrored", 1),
    "resumed": train("mirrored", "mirrored", 2, resume=True),
}))
"""


def _same_pair_everywhere(instrument: str, piece: str, n_tiles: int) -> np.ndarray:
    """Every tile the same spectrum, constant over time (so time shifts change nothing)."""
    column = np.sin(np.linspace(0.0, 3 * np.pi, SMALL_SPEC.n_bins))[:, None]
    tile = 0.8 * column if instrument == ORIGIN else 0.9 * np.tanh(2 * column) - 0.1
    return np.broadcast_to(tile, (n_tiles, SMALL_SPEC.n_bins, SMALL_SPEC.tile_frames))


def test_mirrored_on_two_logical_cpus_splits_the_batch_and_matches_one_device(tmp_path):
    """The global batch of 4 is split 2 + 2; losses and state equal a one-device run's.

    Equality is only expected where BatchNorm statistics of half a batch equal the whole batch's:
    here every pair is the same (and dropout is off), so what remains is floating-point
    summation order. Tolerances: losses within ``LOSS_RTOL`` (relative), the weights within
    ``STATE_RTOL`` of one epoch's change (norm), the Adam slots within ``STATE_RTOL`` of their
    norm; a wrongly scaled gradient, a replica fed the whole batch or an optimiser state lost on
    resume is off by far more. The validation split (3 pairs) ends in a batch split 2 + 1.
    """
    pieces = {f"p{i}": (4, "train") for i in range(4)} | {"v0": (3, "val")}
    features = write_feature_store(
        tmp_path / "features", pieces, SMALL_SPEC, fill=_same_pair_everywhere
    )
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(features), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    single, first, resumed = report["single"], report["first"], report["resumed"]

    assert set(single["replicas"]) == {1} and set(first["replicas"]) == {2}
    assert set(resumed["replicas"]) == {2}
    assert single["batches"] == [4] * 4  # 2 epochs x 2 steps, the whole batch
    assert first["batches"] == [2] * 4 and resumed["batches"] == [2] * 4  # 2 steps x 2 replicas

    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == first["history"][0]  # the resumed run kept epoch 1's row
    for row, want in zip(resumed["history"], single["history"]):
        for name in ("gen_total", "gen_gan", "gen_l1", "disc", "val_gen_l1", "val_disc"):
            assert np.isfinite(row[name]), name
            assert row[name] == pytest.approx(want[name], rel=LOSS_RTOL), name

    paths, mirrored = _checkpoint(tmp_path / "mirrored", 2)
    _, one_device = _checkpoint(tmp_path / "single", 2)
    _, one_device_before = _checkpoint(tmp_path / "single", 1)
    assert [v.shape for v in mirrored] == [v.shape for v in one_device]  # the same layout
    counters = [p.endswith("/iteration") for p in paths]
    slots = [p.endswith(("_momentum", "_velocity")) for p in paths]
    network = [
        not c and not s and not p.endswith("/learning_rate")
        for p, c, s in zip(paths, counters, slots)
    ]
    assert [int(v) for v, c in zip(mirrored, counters) if c] == [4, 4]  # both Adams: 2 x 2 steps
    change = np.linalg.norm(_flat(one_device, network) - _flat(one_device_before, network))
    assert change > 0
    gap = np.linalg.norm(_flat(mirrored, network) - _flat(one_device, network))
    assert gap <= STATE_RTOL * change
    moments = np.linalg.norm(_flat(one_device, slots))
    assert np.linalg.norm(_flat(mirrored, slots) - _flat(one_device, slots)) <= STATE_RTOL * moments
    assert (tmp_path / "mirrored" / "generator.keras").is_file()


# --- Several machines, played by two processes: MultiWorkerMirroredStrategy on localhost.

WORKER = r"""
import json, os, sys
import numpy as np
import tensorflow as tf
from timbre.tf import pix2pix

train_step = pix2pix.Pix2Pix.train_step


def recording_step(self, data):  # log the origin tiles' first value: the piece, see _codes
    def log(values):
        with open(os.environ["STEPS_LOG"], "a") as f:
            f.write(json.dumps([float(v) for v in values]) + "\n")
        return np.int64(0)

    tf.numpy_function(log, [data[0][:, 0, 0, 0]], tf.int64)
    return train_step(self, data)


pix2pix.Pix2Pix.train_step = recording_step
from timbre.cli.train import main

raise SystemExit(main(sys.argv[1:]))
"""
N_PIECES = 12  # one tile each: pairs 0..11, 3 steps of 4 per epoch, 2 per worker and step
EPOCHS = 3


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sockets[-1].bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports: list[int], task: str) -> str:
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    return json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}})


def _worker_args(features: Path, model_dir: Path, *extra: str) -> list[str]:
    """train.py's arguments, as README.md gives them (with tiny model flags)."""
    return [
        "--dataset_path",
        str(features),
        "--origin",
        ORIGIN,
        "--target",
        TARGET,
        "--model_dir",
        str(model_dir),
        "--distribute",
        "multiworker",
        "--batch_size",
        "4",
        "--epochs",
        str(EPOCHS),
        "--base_filters",
        str(TINY_MODEL.base_filters),
        "--depth",
        str(TINY_MODEL.depth),
        "--seed",
        "3",
        "--quiet",
        *extra,
    ]


def _start_cluster(root: Path, phase: str, ports: list[int], args: list[str]) -> dict:
    """Start the chief and the worker; each gets its own TMPDIR, output files and a log of the
    pieces it trained on."""
    processes = {}
    for task in ("chief", "worker"):
        (root / f"{phase}-{task}-tmp").mkdir()
        env = _env(
            TF_CONFIG=_tf_config(ports, task),
            TMPDIR=str(root / f"{phase}-{task}-tmp"),
            STEPS_LOG=str(root / f"{phase}-{task}-steps.jsonl"),
        )
        with (
            open(root / f"{phase}-{task}.out", "w") as out,
            open(root / f"{phase}-{task}.err", "w") as err,
        ):
            processes[task] = subprocess.Popen(
                [sys.executable, "-c", WORKER, *args], cwd=ROOT, stdout=out, stderr=err, env=env
            )
    return processes


def _stop(processes: dict) -> None:
    """SIGKILL what still runs (a hang or a failed peer) and reap it."""
    for process in processes.values():
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _output(root: Path, phase: str, task: str, stream: str) -> str:
    return (root / f"{phase}-{task}.{stream}").read_text()


def _steps(root: Path, phase: str, task: str) -> list[list[int]]:
    """The pieces of each step one worker trained on (its replica's part of the batch)."""
    path = root / f"{phase}-{task}-steps.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [[int(round(v * 100)) for v in json.loads(line)] for line in lines]


def _expected_order(features: Path, epoch: int, index: int, workers: int = 2) -> list[list[int]]:
    """The documented order (timbre.tf.pipeline.train_data): worker ``index`` reads pairs
    ``index::workers`` shuffled with seed ``(seed + epoch) * workers + index``, in batches of
    ``batch_size / workers``, with the run's process-wide seed set (timbre.tf.fit.Session)."""
    from timbre.settings import TrainConfig
    from timbre.tf.fit import Session
    from timbre.tf.pairs import open_pairs, pair_dataset

    pairs = open_pairs(features, ORIGIN, TARGET, "train")
    shard = dataclasses.replace(pairs, pairs=pairs.pairs[index::workers])
    seed = (3 + epoch) * workers + index
    with Session(TrainConfig(seed=3)):
        batches = pair_dataset(shard, 2, seed=seed, augment=True, drop_remainder=True)
        return [_codes(origin) for origin, _ in batches.as_numpy_iterator()]


def _event_file_pids(model_dir: Path) -> set[int]:
    """Process ids in TensorBoard's event file names (events.out.tfevents.T.HOST.PID.N.v2)."""
    return {int(p.name.split(".")[-3]) for p in (model_dir / "logs").rglob("events.out.tfevents.*")}


def _kill_after_first_checkpoint(root: Path, cluster: dict, model_dir: Path) -> bool:
    """Wait until the chief and the worker have each checkpointed epoch 1, then SIGKILL both;
    True if both were still running."""
    chief_checkpoint = model_dir / "checkpoints" / "epoch_0001.npz"
    worker_tmp = root / "killed-worker-tmp"
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in cluster.values()):
            scratch = list(worker_tmp.glob("timbre-worker-*/checkpoints/epoch_0001.npz"))
            if chief_checkpoint.exists() and scratch:
                break
            time.sleep(0.01)
        running = all(p.poll() is None for p in cluster.values())
        for process in cluster.values():
            process.send_signal(signal.SIGKILL)
    finally:
        _stop(cluster)
    return running


def test_two_workers_share_the_pairs_only_the_chief_writes_and_a_killed_run_resumes(tmp_path):
    """train.py with ``--distribute multiworker`` and TF_CONFIG, as README.md shows.

    Phase 1 is killed (SIGKILL, both workers) once epoch 1 is checkpointed; phase 2 resumes it
    to epoch 3. Checked: each epoch every training pair is trained on exactly once across the
    two workers, worker ``i`` on pairs ``i, i + 2, ...`` in the documented seeded order; only
    the chief writes the model directory, the other worker writes into a scratch folder under
    its TMPDIR that is removed when it finishes; both finish; the resumed run continues from
    checkpoint 1 with its history.
    """
    try:
        ports = _free_ports(2)
    except OSError as e:
        pytest.skip(f"this platform cannot open local TCP ports for the workers ({e})")
    pieces = {f"p{i:02d}": (1, "train") for i in range(N_PIECES)} | {"v0": (3, "val")}
    features = write_feature_store(tmp_path / "features", pieces, SMALL_SPEC)
    model_dir = tmp_path / "model"
    args = _worker_args(features, model_dir)

    cluster = _start_cluster(tmp_path, "killed", ports, args)
    running = _kill_after_first_checkpoint(tmp_path, cluster, model_dir)
    assert running, "a worker ended before the kill: " + _output(tmp_path, "killed", "chief", "err")
    with np.load(model_dir / "checkpoints" / "epoch_0001.npz", allow_pickle=False) as data:
        first_row = json.loads(str(data["meta"]))["history"][0]
    (scratch,) = (tmp_path / "killed-worker-tmp").glob("timbre-worker-*")  # kept: killed
    assert (scratch / "config.json").is_file()
    assert (scratch / "checkpoints" / "epoch_0001.npz").is_file()
    assert not list((tmp_path / "killed-chief-tmp").glob("timbre-worker-*"))
    pids = {cluster["chief"].pid}

    cluster = _start_cluster(tmp_path, "resumed", _free_ports(2), [*args, "--resume"])
    try:
        for task, process in cluster.items():
            assert process.wait(timeout=240) == 0, _output(tmp_path, "resumed", task, "err")
    finally:
        _stop(cluster)
    pids.add(cluster["chief"].pid)
    reports = [_output(tmp_path, "resumed", t, "out").splitlines()[-1] for t in cluster]
    assert reports[0] == reports[1] and reports[0].startswith(f"{EPOCHS} epoch(s) done")
    for task in cluster:  # a worker's scratch folder goes when it ends normally
        assert not list((tmp_path / f"resumed-{task}-tmp").glob("timbre-worker-*")), task

    from timbre.tf.checkpoints import read_history

    history = read_history(model_dir)
    assert [row["epoch"] for row in history] == list(range(1, EPOCHS + 1))
    assert history[0]["seconds"] == pytest.approx(first_row["seconds"])  # epoch 1 not redone
    assert all(np.isfinite(row["gen_l1"]) and np.isfinite(row["val_gen_l1"]) for row in history)
    assert sorted(p.name for p in (model_dir / "checkpoints").glob("*.npz")) == [
        f"epoch_{e:04d}.npz" for e in (EPOCHS - 1, EPOCHS)
    ]
    assert (model_dir / "generator.keras").is_file() and (model_dir / "config.json").is_file()
    assert _event_file_pids(model_dir) == pids  # TensorBoard: the chiefs' files only

    steps_per_epoch = N_PIECES // 4
    for phase, epochs in (("killed", [0]), ("resumed", list(range(1, EPOCHS)))):
        steps = {task: _steps(tmp_path, phase, task) for task in ("chief", "worker")}
        for task, index in (("chief", 0), ("worker", 1)):
            trained = steps[task][: steps_per_epoch * len(epochs)]  # killed: maybe in epoch 2
            want = [b for epoch in epochs for b in _expected_order(features, epoch, index)]
            assert trained == want, (phase, task)
        for k in range(len(epochs)):  # each pair once per epoch across the cluster
            part = slice(steps_per_epoch * k, steps_per_epoch * (k + 1))
            seen = sorted(piece for task in steps for batch in steps[task][part] for piece in batch)
            assert seen == list(range(N_PIECES)), (phase, k)
    assert _expected_order(features, 1, 0) != _expected_order(features, 2, 0)


# --- The chief/worker checks, in process with stand-ins for a cluster's strategy.


def _run(tmp_path: Path, batch_size: int = 4):
    from timbre.settings import TrainConfig
    from timbre.tf.run import Run

    config = TrainConfig(batch_size=batch_size)
    return Run(Path("f"), tmp_path / "m", "gan", ORIGIN, TARGET, SMALL_SPEC, TINY_MODEL, config)


def _strategy(replicas: int = 1, chief: bool = True):
    from types import SimpleNamespace

    return SimpleNamespace(
        num_replicas_in_sync=replicas, extended=SimpleNamespace(should_checkpoint=chief)
    )


def test_check_replicas_wants_a_global_batch_that_splits_evenly(tmp_path):
    from timbre.errors import ConfigError
    from timbre.tf.distribute import check_replicas

    check_replicas(_run(tmp_path, batch_size=4), _strategy(replicas=2))
    with pytest.raises(ConfigError, match="batch_size=3: not a multiple of the 2 replicas"):
        check_replicas(_run(tmp_path, batch_size=3), _strategy(replicas=2))


def test_only_the_chief_writes_the_model_dir_the_others_a_removed_scratch_folder(tmp_path):
    from timbre.tf.distribute import is_chief, output_run

    run = _run(tmp_path)
    assert is_chief(_strategy()) and not is_chief(_strategy(chief=False))
    with output_run(run, _strategy()) as out:
        assert out is run
    with output_run(run, _strategy(chief=False)) as out:
        scratch = out.model_dir
        assert scratch.is_dir() and scratch != run.model_dir
        assert dataclasses.replace(out, model_dir=run.model_dir) == run
    assert not scratch.exists()


def test_workers_must_start_from_the_same_epoch(tmp_path, monkeypatch):
    import tensorflow as tf

    from timbre.errors import ModelError
    from timbre.tf import distribute

    strategy = tf.distribute.get_strategy()
    assert distribute.worker_count(strategy) == 1
    assert distribute.worker_values(strategy, 5) == [5]
    distribute.check_same_start(_run(tmp_path), strategy, 5)
    monkeypatch.setattr(distribute, "worker_values", lambda strategy, value: [value, 3])
    with pytest.raises(ModelError, match=r"the workers continue from different epochs \[3, 5\]"):
        distribute.check_same_start(_run(tmp_path), strategy, 5)
