"""Scale-out with ``tf.distribute`` (``TrainConfig.distribute``, :func:`make_strategy`).

``batch_size`` is always the global batch, split evenly across the replicas
(it must be a multiple of their number, :func:`check_replicas`).

With ``"mirrored"`` one machine's devices share each global batch, so a step
sees the pairs and time shifts it would see on one device, and the
checkpoints have the same layout. BatchNorm statistics are per replica, so the
run equals a one-device run (up to rounding: tested) only when half a batch has
the statistics of the whole, e.g. all pairs alike.

With ``"multiworker"`` every worker (process or machine, TF_CONFIG) runs the
same :func:`timbre.tf.fit.train`: worker ``i`` of ``n`` reads only its shard of
the training pairs (:func:`timbre.tf.pipeline.train_data`), and only the chief
writes the model directory (:func:`is_chief`); the other workers write theirs
into a scratch folder that is removed at the end (:func:`output_run`). A
resumed run reads the model directory's checkpoints on every worker, so it
must be one folder every worker sees at the same path; the workers check that
they all continue from the same epoch (:func:`check_same_start`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from timbre.errors import ConfigError, ModelError
from timbre.tf.run import Run


def select_gpu(gpu: int | None) -> None:
    """Make only GPU ``gpu`` visible (-1: none, CPU only; None: leave TF's default). Call before any
    TF op.

    Raises:
        ConfigError: no such GPU, or TF is already initialised.
    """
    if gpu is None:
        return
    gpus = tf.config.list_physical_devices("GPU")
    if gpu >= len(gpus):
        raise ConfigError(
            f"gpu={gpu}: this machine has {len(gpus)} GPU(s) (expected -1 for CPU or "
            f"0..{len(gpus) - 1})"
        )
    try:
        tf.config.set_visible_devices([] if gpu < 0 else [gpus[gpu]], "GPU")
    except RuntimeError as e:
        raise ConfigError(
            f"gpu={gpu}: TensorFlow is already initialised ({e}); choose the GPU at start-up"
        ) from e


class _FitReduce:
    """A strategy's ``reduce`` for what Keras 3's ``fit`` and ``evaluate`` pass to it
    (keras-team/keras#20585): a nest of values, reduced leaf by leaf; a scalar (a loss) with
    ``axis=0``, reduced across the replicas; and, once before the first step, a batch of data
    with ``axis=None``, which Keras wants only for its shape: this replica's part is returned
    without any communication (the parts may differ in length, a partial batch)."""

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def reduce_one(one):
            first = self.experimental_local_results(one)[0]
            if first.shape.rank == 0:
                return parent.reduce(reduce_op, one, None)
            return first if axis is None else parent.reduce(reduce_op, one, axis)

        return tf.nest.map_structure(reduce_one, value)


class _MirroredStrategy(_FitReduce, tf.distribute.MirroredStrategy):
    pass


class _MultiWorkerStrategy(_FitReduce, tf.distribute.MultiWorkerMirroredStrategy):
    pass


def make_strategy(distribute: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy: "none" (default), "mirrored" (all local GPUs, else all logical
    CPUs) or "multiworker" (the cluster and this worker's task in TF_CONFIG; every worker runs the
    same :func:`timbre.tf.fit.train`).

    Raises:
        ConfigError: an unknown ``distribute``, or "multiworker" asked for after TensorFlow has
            started (it must be the first TensorFlow call of the process).
    """
    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return _MirroredStrategy(
            [d.name for d in devices], cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if distribute == "multiworker":
        try:
            return _MultiWorkerStrategy()
        except RuntimeError as e:
            raise ConfigError(
                f"distribute='multiworker': TensorFlow is already initialised ({e}) (expected a "
                "fresh process per worker: start train.py once on each)"
            ) from e
    raise ConfigError(f"distribute={distribute!r} (expected one of none, mirrored, multiworker)")


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """Workers (processes, usually machines) that ``strategy`` spans: 1 unless "multiworker"."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    return strategy.num_replicas_in_sync // len(strategy.extended.worker_devices)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the model directory: the chief of a "multiworker" cluster
    (task ``chief``, else ``worker`` 0), or the only process otherwise."""
    return bool(strategy.extended.should_checkpoint)


def worker_values(strategy: tf.distribute.Strategy, value: int) -> list[int]:
    """``value`` as each replica of the cluster has it; a collective, so every worker must call it
    at the same point ([value] without other workers).

    Args:
        strategy: the run's strategy.
        value: this worker's integer (e.g. its restored epoch).

    Returns:
        One value per replica, in replica order; ``[value]`` on a single worker.
    """
    if worker_count(strategy) == 1:
        return [value]
    local = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([value], tf.int64)
    )
    return [int(v) for v in strategy.gather(local, axis=0).numpy()]


def check_replicas(run: Run, strategy: tf.distribute.Strategy) -> None:
    """Check that the global batch splits evenly across ``strategy``'s replicas.

    Raises:
        ConfigError: ``batch_size`` is not a multiple of the replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if run.train.batch_size % replicas:
        raise ConfigError(
            f"batch_size={run.train.batch_size}: not a multiple of the {replicas} replicas of "
            f"distribute={run.train.distribute!r} (expected a multiple of {replicas}: it is the "
            "global batch, split evenly across the replicas)"
        )


@contextlib.contextmanager
def output_run(run: Run, strategy: tf.distribute.Strategy) -> Iterator[Run]:
    """Yield the run whose ``model_dir`` this process writes: ``run`` on the chief; on any other
    worker a copy writing into a scratch folder, removed afterwards (the Keras multi-worker
    pattern: every worker takes the same steps, collectives included, but only the chief's
    files remain)."""
    if is_chief(strategy):
        yield run
        return
    with tempfile.TemporaryDirectory(prefix="timbre-worker-") as scratch:
        yield dataclasses.replace(run, model_dir=Path(scratch))


def check_same_start(run: Run, strategy: tf.distribute.Strategy, done: int) -> None:
    """Check that every worker restored the same epoch ``done`` (a collective: every worker calls
    it at the same point, before any of them writes).

    Raises:
        ModelError: the workers continue from different epochs.
    """
    found = sorted(set(worker_values(strategy, done)))
    if len(found) > 1:
        raise ModelError(
            f"{run.model_dir}: the workers continue from different epochs {found} (expected the "
            "same checkpoints on every worker: --model_dir must be one folder that every worker "
            "reads at the same path)"
        )
