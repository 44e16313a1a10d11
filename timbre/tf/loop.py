"""Training runs: a model directory that survives any crash, trained with Keras ``fit``.

The model directory's layout is :mod:`timbre.formats.model_dir`'s. ``generator.keras``
holds the generator of the best epoch so far: the lowest validation L1
(``val_gen_l1``), or the last epoch when there is no validation.

Several targets (``target`` a list): one model converts to each
(:mod:`timbre.tf.networks`); every step mixes the targets' pairs evenly
(:func:`train_data`), validation holds every target's pairs, and each epoch
reports and samples every target (:mod:`timbre.tf.pix2pix`). One target
trains and saves exactly as before.

Inputs are opened once: :func:`prepare` reads the feature manifest,
:func:`open_data` the pairs of the training and validation splits (with every
tile file's header), and :func:`train_data` chains the epochs' shuffles of them
into one dataset. A run calls Keras ``fit`` once, from the completed epochs to
``config.epochs`` (so the progress bar counts against the total, and callbacks
span the run); the work after each epoch is a callback (``_EpochOutputs``).

Crash safety: every file is written atomically, and each epoch's checkpoint
is written before ``history.csv`` is rebuilt from it (see
:mod:`timbre.tf.checkpoints`), so a run killed at any moment resumes with
``resume=True`` after the last checkpointed epoch.

Data order: epoch ``e`` reads exactly ``steps_per_epoch`` batches of the
training pairs shuffled and shifted with seed ``seed + e`` (a function of that
seed alone), so a resumed epoch sees the batches the uninterrupted run would
have seen; dropout seed states and both optimisers are in the checkpoint.
With ``deterministic=True`` (TF op determinism) a resumed run's weights and
optimiser state equal the uninterrupted run's bit for bit (tested), and so do
the logged losses except ``gen_total``, which may differ in its last bit (the
sum ``gen_gan + l1_weight * gen_l1`` is not always rounded the same way).
Without it they agree up to floating-point reduction order.

Scale-out (``TrainConfig.distribute``, :func:`make_strategy`): ``batch_size`` is
always the global batch, split evenly across the replicas (it must be a
multiple of their number). With ``"mirrored"`` one machine's devices share each
global batch, so a step sees the pairs and time shifts it would see on one
device, and the checkpoints have the same layout. BatchNorm statistics are per
replica, so the run equals a one-device run (up to rounding: tested) only when
half a batch has the statistics of the whole, e.g. all pairs alike. With
``"multiworker"`` every worker (process or machine, TF_CONFIG) runs this same
:func:`train`: worker ``i`` of ``n`` reads only its shard of the training pairs
(:func:`train_data`), and only the chief writes the model directory; the other
workers write theirs into a scratch folder that is removed at the end
(:func:`is_chief`). A resumed run reads the model directory's checkpoints on
every worker, so it must be one folder every worker sees at the same path;
the workers check that they all continue from the same epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from timbre.errors import ConfigError, DatasetError, ModelError
from timbre.formats.audio_folder import remove_temporaries
from timbre.formats.feature_store import FeatureManifest, load_manifest, nonfinite_tile_files
from timbre.formats.model_dir import RUN_FILES, ModelDir
from timbre.io import plotting
from timbre.io.atomic import atomic_path, run_lock
from timbre.settings import ModelConfig, SpectrogramConfig, TrainConfig
from timbre.tf import pipeline
from timbre.tf.checkpoints import (
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    write_history,
)
from timbre.tf.export import write_generator_onnx
from timbre.tf.networks import build_discriminator, build_generator, check_tile_shape
from timbre.tf.pix2pix import Pix2Pix, adam
from timbre.tf.samples import load_excerpt, write_samples

BEST_METRIC = "val_gen_l1"  # the validation loss that picks the exported generator (both modes)
MODES = ("gan", "generator")
LR_FLOOR = 0.05  # lr_decay="cosine" ends at this fraction of each learning rate
HAS_TENSORBOARD = (
    importlib.util.find_spec("tensorboard") is not None
)  # TF >= 2.20 no longer installs it
POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training run did."""

    model_dir: Path  # the model directory (written by the chief alone in a cluster)
    epochs_done: int  # completed epochs in total, across resumes
    history: list[dict[str, float]]  # one row per completed epoch (as history.csv)
    stopped_by_budget: bool  # max_minutes ended the run before config.epochs
    generator_path: Path  # the exported generator


@dataclasses.dataclass(frozen=True)
class Run:
    """The resolved settings of one run (what config.json records)."""

    features_path: Path
    model_dir: Path
    mode: str
    origin: str
    targets: tuple[str, ...] | str  # the target instrument(s); several: a multi-target model
    spectrogram: SpectrogramConfig
    model: ModelConfig
    train: TrainConfig  # saved under "train" in config.json
    train_split: str | list[str] = "train"  # a split name or a list of pieces (not saved: derived)
    val_split: str | list[str] | None = "val"  # None: no validation
    origin_level_db: float | None = None  # median active level of the training pieces' origin
    # audio (dBFS, timbre.dsp.level.active_level_db): conversion brings inputs to it; None: unknown

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _targets(self.targets))  # one name or several

    @property
    def target(self) -> str:
        """The (first) target: a multi-target model's default."""
        return self.targets[0]

    @property
    def multi(self) -> bool:
        return len(self.targets) > 1

    def to_dict(self) -> dict[str, Any]:
        """What ``config.json`` records; ``targets`` only for a multi-target model (a
        single-target one keeps the format it always had)."""
        return {
            "version": 1,
            "mode": self.mode,
            "origin": self.origin,
            "target": self.target,
            **({"targets": list(self.targets)} if self.multi else {}),
            "origin_level_db": self.origin_level_db,
            "features_path": str(self.features_path),
            "spectrogram": self.spectrogram.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }

    @property
    def files(self) -> ModelDir:
        return ModelDir(self.model_dir)


@dataclasses.dataclass(frozen=True)
class RunData:
    """A run's training inputs, opened once (:func:`open_data`)."""

    manifest: FeatureManifest
    train: tuple[pipeline.PairSet, ...]  # one per target, in the run's order
    val: tuple[pipeline.PairSet, ...] | None  # likewise; None: no validation pieces


# --- Checking the request against the features and the model directory.


def _check_request(mode: str, origin: str, targets: tuple[str, ...]) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} (expected one of {MODES})")
    if not targets or any(not isinstance(t, str) or not t for t in targets):
        raise ConfigError(f"target={list(targets)!r} (expected one or more instrument names)")
    if origin in targets:
        raise ConfigError(
            f"origin and target: both '{origin}' (expected two different instruments)"
        )
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ConfigError(f"target: {', '.join(repeated)} listed twice (expected each once)")


def _targets(target: str | Sequence[str]) -> tuple[str, ...]:
    return (target,) if isinstance(target, str) else tuple(target)


def _splits(manifest, config: TrainConfig) -> tuple[str | list[str], str | list[str] | None]:
    """(training split, validation split or None): the manifest's, else ``validation_fraction`` of
    the pieces.
    """
    if manifest.split_given:
        return "train", ("val" if manifest.split.get("val") else None)
    pieces = manifest.split.get("train") or sorted(manifest.pieces)
    if len(pieces) < 2:
        return pieces, None
    parts = pipeline.split_by_fraction(pieces, config.validation_fraction, seed=config.seed)
    return parts["train"], parts["val"]


def _diff(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{key}={saved.get(key)!r} vs {wanted.get(key)!r}"
        for key in sorted(set(saved) | set(wanted))
        if saved.get(key) != wanted.get(key)
    ]


def _check_model_dir(run: Run, existing: dict[str, Any] | None, resume: bool, force: bool) -> None:
    """Refuse a model directory holding another run unless resuming (matching) or forced.

    A ``config.json`` without a checkpoint or a generator is a start that was killed before
    its first epoch: nothing to keep, so it does not count as a run.
    """
    if existing is None or force:
        return
    if not list_checkpoints(run.model_dir) and not run.files.generator.exists():
        return
    if not resume:
        raise ModelError(
            f"{run.model_dir}: holds a training run already ({existing.get('origin')} -> "
            f"{','.join(existing.get('targets') or [str(existing.get('target'))])}, mode "
            f"{existing.get('mode')}) (expected an empty folder); "
            f"pass --resume to continue it or --force to start over"
        )
    saved_targets = existing.get("targets") or [existing.get("target")]
    if list(saved_targets) != list(run.targets):
        raise ModelError(
            f"{run.model_dir}: the saved run has target={','.join(map(str, saved_targets))} "
            f"(expected {','.join(run.targets)}); use another --model_dir"
        )
    for key in ("mode", "origin"):
        if existing.get(key) != getattr(run, key):
            raise ModelError(
                f"{run.model_dir}: the saved run has {key}={existing.get(key)!r} "
                f"(expected {getattr(run, key)!r}); use another --model_dir"
            )
    changed = _diff(existing.get("spectrogram", {}), run.spectrogram.to_dict())
    if changed:
        raise ModelError(
            f"{run.features_path}: spectrogram settings differ from the resumed model's "
            f"({'; '.join(changed)}) (expected the settings the model was trained with)"
        )
    changed = _diff(existing.get("model", {}), run.model.to_dict())
    if changed:
        raise ModelError(
            f"{run.model_dir}: model settings differ from the resumed run's ({'; '.join(changed)})"
        )


# --- Per-epoch outputs.


def export_generator(model: Pix2Pix, model_dir: Path) -> Path:
    """Save the generator as ``generator.keras`` (standard layers only: safe mode loads it) and
    its float32 ONNX copy ``generator.onnx``, each atomically; returns the ``.keras`` path.

    The old ONNX copy is removed first and the new one written last, so a ``generator.onnx``
    on disk was always made from the ``generator.keras`` beside it (it records its SHA-256
    too). Without tf2onnx, or if it fails, a warning: conversion then runs the Keras file.
    """
    files = ModelDir(model_dir)
    files.generator_onnx.unlink(missing_ok=True)
    with atomic_path(files.generator) as tmp:
        model.generator.save(tmp)
    try:
        write_generator_onnx(model.generator, files.generator_onnx, files.generator)
    except ModelError as e:
        warnings.warn(f"{e}; no {files.generator_onnx.name}: conversion uses Keras", stacklevel=2)
    return files.generator


def is_best_epoch(history: list[dict], metric: str = BEST_METRIC) -> bool:
    """True when the newest row of ``history`` has the lowest ``metric`` so far (always when it has
    none).

    Validation L1 jumps from epoch to epoch at the learning rates that train fast,
    so the exported generator is the best validated one, not merely the last.
    """
    scores = [row.get(metric, np.nan) for row in history]
    if not scores or not np.isfinite(scores[-1]):
        return True
    return scores[-1] <= np.nanmin(scores)


def write_curves(model_dir: Path, history: list[dict]) -> None:
    series = {
        key: [row.get(key, np.nan) for row in history]
        for key in sorted({k for row in history for k in row} - {"epoch", "seconds"})
    }
    plotting.save_figure(plotting.history_figure(series), ModelDir(model_dir).curves)


# --- Setting up: devices, strategy, precision, the model, the data.


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
    same :func:`train`).

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


def _worker_values(strategy: tf.distribute.Strategy, value: int) -> list[int]:
    """``value`` as each replica of the cluster has it; a collective, so every worker must call it
    at the same point ([value] without other workers)."""
    if worker_count(strategy) == 1:
        return [value]
    local = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([value], tf.int64)
    )
    return [int(v) for v in strategy.gather(local, axis=0).numpy()]


def _check_replicas(run: Run, strategy: tf.distribute.Strategy) -> None:
    """Raise ConfigError unless the global batch splits evenly across the replicas."""
    replicas = strategy.num_replicas_in_sync
    if run.train.batch_size % replicas:
        raise ConfigError(
            f"batch_size={run.train.batch_size}: not a multiple of the {replicas} replicas of "
            f"distribute={run.train.distribute!r} (expected a multiple of {replicas}: it is the "
            "global batch, split evenly across the replicas)"
        )


@contextlib.contextmanager
def _output_run(run: Run, strategy: tf.distribute.Strategy):
    """Yield the run whose ``model_dir`` this process writes: ``run`` on the chief; on any other
    worker a copy writing into a scratch folder, removed afterwards (the Keras multi-worker
    pattern: every worker takes the same steps, collectives included, but only the chief's
    files remain)."""
    if is_chief(strategy):
        yield run
        return
    with tempfile.TemporaryDirectory(prefix="timbre-worker-") as scratch:
        yield dataclasses.replace(run, model_dir=Path(scratch))


def build_model(
    run: Run, strategy: tf.distribute.Strategy, total_steps: int | None = None
) -> Pix2Pix:
    """Generator (+ discriminator in GAN mode) and their Adam optimisers, under ``strategy``.

    With ``lr_decay="cosine"`` and ``total_steps`` (all epochs' steps), each learning rate
    follows a half cosine from its value to :data:`LR_FLOOR` times it; the schedule counts
    the optimiser's own steps, which the checkpoints keep, so a resumed run continues it.
    """
    spec, config = run.spectrogram, run.train
    fp16 = config.mixed_precision == "fp16"

    def rate(value: float):
        if config.lr_decay == "cosine" and total_steps:
            return keras.optimizers.schedules.CosineDecay(value, total_steps, alpha=LR_FLOOR)
        return value

    shape = (spec.n_bins, spec.tile_frames, len(run.targets))
    with strategy.scope():
        generator = build_generator(run.model, *shape)
        discriminator = build_discriminator(run.model, *shape) if run.mode == "gan" else None
        model = Pix2Pix(generator, discriminator, l1_weight=config.l1_weight, targets=run.targets)
        model.compile(
            adam(rate(config.gen_lr), config.beta_1, fp16),
            adam(rate(config.disc_lr), config.beta_1, fp16) if discriminator is not None else None,
        )
        if tf.distribute.has_strategy():
            # Each optimiser's slots now, over its own network: under a strategy, fit would build
            # the generator's over every variable of the model (the discriminator's too), and
            # its checkpoints would no longer load into a fresh model.
            model.build_optimizers()
    return model


def open_data(run: Run, manifest: FeatureManifest) -> RunData:
    """Open the training and validation pairs once (manifest entries and tile-file headers).

    Raises:
        DatasetError: an instrument is absent from the features, a missing or corrupt tile file.
    """

    def pairs(split: str | list[str]) -> tuple[pipeline.PairSet, ...]:
        return tuple(
            pipeline.open_pairs(manifest, run.origin, target, split, spectrogram=run.spectrogram)
            for target in run.targets
        )

    return RunData(
        manifest, pairs(run.train_split), None if run.val_split is None else pairs(run.val_split)
    )


def steps_per_epoch(run: Run, data: RunData) -> int:
    """Training steps per epoch (``steps_per_epoch`` or one pass over the training pairs; with
    several targets, as many steps as hold every target's pairs once on average).

    Raises:
        ConfigError: the batch size exceeds a target's training pairs.
    """
    batch = run.train.batch_size
    for target, pairs in zip(run.targets, data.train):
        if batch > len(pairs):
            raise ConfigError(
                f"batch_size={batch}: larger than the {len(pairs)} training pairs of "
                f"{run.origin} -> {target} (expected at most {len(pairs)})"
            )
    return run.train.steps_per_epoch or sum(map(len, data.train)) // batch


def train_data(
    run: Run,
    data: RunData,
    epochs: range,
    steps: int,
    strategy: tf.distribute.Strategy | None = None,
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """The training batches of ``epochs`` (0-based epoch numbers, e.g. ``range(done, total)``), one
    epoch after the other, ``steps`` steps each: what one ``fit`` call reads.

    Epoch ``e``'s batches are a function of ``seed`` and ``e`` alone (the pairs reshuffled after
    each pass when ``steps`` exceeds one), so a resumed run reads, from its first epoch on, the
    batches an uninterrupted run reads, and a dataset iterated again starts over identically.

    On one worker (``strategy`` None, "none" or "mirrored"): global batches of ``batch_size``
    shuffled with ``seed + e``; ``fit`` splits each one evenly across the local replicas,
    so a step sees the same pairs and time shifts as on one device.

    On ``n`` workers ("multiworker"): worker ``i`` reads only pairs ``i, i + n, i + 2n, ...`` of
    the training pairs (a fixed shard of the pair numbers, taken before shuffling and batching),
    shuffled with seed ``(seed + e) * n + i``, in per-replica batches of
    ``batch_size / replicas``. Each pair is read by one worker and seen once per epoch across
    the cluster (a pass of ``len(pairs) // batch_size`` steps); no worker reads another's tiles.

    Several targets (balanced per step): each target's pairs are shuffled as above with seed
    ``s * T + k`` for target ``k`` of ``T`` (``s`` the one-target seed), and slot ``j`` of
    step ``b`` (counted within the epoch) takes target ``(j + b) mod T``: every step holds
    each target ``batch_size / T`` times, rounded up or down, and ``T`` consecutive steps
    exactly as often. Batches are then ``((origin, target_one_hot), target_tiles)``.

    Args:
        epochs: the epochs to read, in order.
        steps: steps per epoch (:func:`steps_per_epoch`).
        strategy: the run's strategy (default: TensorFlow's current one).

    Returns:
        A dataset of (origin, target) batches (multi-target: module docstring above), or on
        several workers a distributed dataset of this worker's per-replica batches.
    """
    strategy = strategy or tf.distribute.get_strategy()
    batch_size, seed = run.train.batch_size, run.train.seed
    if worker_count(strategy) == 1:
        return _epochs_pipeline(data.train, batch_size, epochs, steps, lambda e: seed + e)

    def pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
        count, index = context.num_input_pipelines, context.input_pipeline_id
        shard = tuple(
            dataclasses.replace(pairs, pairs=pairs.pairs[index::count]) for pairs in data.train
        )
        per_replica = context.get_per_replica_batch_size(batch_size)
        local = context.num_replicas_in_sync // count  # each step takes a batch per local replica
        return _epochs_pipeline(
            shard, per_replica, epochs, steps * local, lambda e: (seed + e) * count + index
        )

    return strategy.distribute_datasets_from_function(pipeline)


def _epochs_pipeline(
    pairsets: tuple[pipeline.PairSet, ...], batch_size: int, epochs: range, batches: int, epoch_seed
) -> tf.data.Dataset:
    """``batches`` shuffled, shifted batches of ``pairsets`` (one per target) per epoch of
    ``epochs``, epoch ``e``'s seeded with ``epoch_seed(e)`` (``e`` an int64 tensor); several
    targets are mixed as :func:`train_data` says."""
    n = len(pairsets)

    def epoch(number: tf.Tensor) -> tf.data.Dataset:
        seed = epoch_seed(number)
        parts = tuple(
            pipeline.pair_dataset(
                pairs,
                batch_size,
                shuffle=True,
                augment=True,
                seed=seed if n == 1 else seed * n + k,
                drop_remainder=True,
                repeat=True,
            )
            for k, pairs in enumerate(pairsets)
        )
        if n == 1:
            return parts[0].take(batches)
        return tf.data.Dataset.zip(parts).take(batches).enumerate().map(_mix_targets)

    chained = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch).prefetch(2)
    return chained.with_options(pipeline.STEADY)  # options apply per pipeline, not per part


def _mix_targets(step: tf.Tensor, parts: tuple) -> tuple:
    """One batch of each target's ``(origin, target)`` -> the step's mixed batch (slot ``j``
    from target ``(j + step) mod T``) as ``((origin, one_hot), target)``."""
    n = len(parts)
    origins, targets = (tf.stack([part[i] for part in parts]) for i in (0, 1))  # (T, B, ...)
    slots = tf.range(tf.shape(origins)[1])
    which = (slots + tf.cast(step, tf.int32)) % n
    index = tf.stack([which, slots], axis=1)
    condition = tf.one_hot(which, n)
    return (tf.gather_nd(origins, index), condition), tf.gather_nd(targets, index)


def _labelled(batches: tf.data.Dataset, k: int, n: int) -> tf.data.Dataset:
    """Target ``k`` of ``n``'s batches as ``((origin, one_hot), target)``."""

    def label(origin: tf.Tensor, target: tf.Tensor) -> tuple:
        return (origin, tf.one_hot(tf.fill(tf.shape(origin)[:1], k), n)), target

    return batches.map(label)


def _val_data(run: Run, data: RunData, strategy: tf.distribute.Strategy) -> tf.data.Dataset | None:
    """The validation batches (global batches of ``batch_size``, in order, not shifted); with
    several targets every target's pairs, one target after the other, each labelled.

    On several workers each one reads them all and evaluates its share of every batch
    (tf.data auto-sharding by data): the validation pairs are few.
    """
    if data.val is None:
        return None
    parts = [
        pipeline.pair_dataset(pairs, run.train.batch_size, shuffle=False, augment=False)
        for pairs in data.val
    ]
    if len(parts) > 1:
        parts = [_labelled(part, k, len(parts)) for k, part in enumerate(parts)]
    batches = functools.reduce(tf.data.Dataset.concatenate, parts).with_options(pipeline.STEADY)
    if worker_count(strategy) > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        batches = batches.with_options(options)
    return batches


def resolve_configs(
    saved: dict[str, Any] | None,
    model: ModelConfig | dict[str, Any] | None,
    config: TrainConfig | dict[str, Any] | None,
    source: str,
) -> tuple[ModelConfig, TrainConfig]:
    """The run's settings, worked out in one place.

    A full config is taken as it is. ``None`` or a dict of fields takes the
    saved run's settings (``saved``: its ``config.json``, when resuming) or
    else the defaults, with the dict's fields on top: so a resumed run keeps
    its settings except the flags given again.
    """

    def resolve(kind: type, given: Any, key: str) -> Any:
        if isinstance(given, kind):
            return given
        base = kind.from_dict(saved[key], source=source) if saved else kind()
        return dataclasses.replace(base, **given) if given else base

    return resolve(ModelConfig, model, "model"), resolve(TrainConfig, config, "train")


def prepare(
    features_path,
    model_dir,
    origin: str,
    target: str | Sequence[str],
    mode: str,
    model: ModelConfig | dict[str, Any] | None,
    config: TrainConfig | dict[str, Any] | None,
    resume: bool,
    force: bool,
) -> tuple[Run, FeatureManifest]:
    """Check the request and resolve the run's settings (saved ones when resuming); returns (run,
    manifest). ``target``: one instrument, or several for a multi-target model.
    """
    features_path, model_dir = Path(features_path), Path(model_dir)
    targets = _targets(target)
    _check_request(mode, origin, targets)
    manifest = load_manifest(features_path)
    files = ModelDir(model_dir)
    existing = files.read_config()
    saved = existing if resume and not force else None
    model, config = resolve_configs(saved, model, config, str(files.config))
    train_split, val_split = _splits(manifest, config)
    run = Run(
        features_path.resolve(),
        model_dir,
        mode,
        origin,
        targets,
        manifest.spectrogram,
        model,
        config,
        train_split,
        val_split,
        manifest.level_db(origin, train_split),
    )
    check_tile_shape(
        run.model, run.spectrogram.n_bins, run.spectrogram.tile_frames, discriminator=mode == "gan"
    )
    _check_model_dir(run, existing, resume, force)
    if val_split is None:
        warnings.warn(
            f"{features_path}: no validation pieces; validation losses are skipped", stacklevel=3
        )
    return run, manifest


@dataclasses.dataclass
class Session:
    """Process-wide TF settings of a run: seed, precision policy (restored afterwards, for
    in-process
    callers such as tests) and op determinism (TF cannot switch it off again: it stays on)."""

    config: TrainConfig

    def __enter__(self) -> Session:
        self.policy = keras.mixed_precision.global_policy()
        keras.utils.set_random_seed(self.config.seed)
        if self.config.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(POLICIES[self.config.mixed_precision])
        return self

    def __exit__(self, *exc) -> None:
        keras.mixed_precision.set_global_policy(self.policy)


def _restore(model: Pix2Pix, run: Run, epoch_offset: int | None) -> tuple[int, list[dict]]:
    """Load the newest checkpoint (or check it is ``epoch_offset``'s); (0, []) if there is none."""
    found = list_checkpoints(run.model_dir)
    latest = max(found, default=0)
    if epoch_offset is not None and epoch_offset != latest:
        raise ModelError(
            f"epoch_offset={epoch_offset}: the last completed epoch in {run.model_dir} is {latest} "
            f"(expected {latest}; omit --epoch_offset to continue from it)"
        )
    if not latest:
        return 0, []
    done, history = load_checkpoint(model, found[latest])
    if run.train.lr_decay == "none":  # the checkpoint holds the old rates; the config rules
        model.optimizer.learning_rate = run.train.gen_lr
        if model.disc_optimizer is not None:
            model.disc_optimizer.learning_rate = run.train.disc_lr
    return done, history


class _EpochOutputs(keras.callbacks.Callback):
    """The work after each epoch of ``fit``: its history row, checkpoint, ``history.csv``, the
    best epoch's export, samples, curves, and the wall-clock budget (``model.stop_training``).

    Every worker of a cluster runs it (writing into its own ``run.model_dir``) and they stop
    after the same epoch: the time budget is spent when it is spent on any worker.
    """

    def __init__(
        self,
        run: Run,
        excerpts: list,
        history: list[dict],
        done: int,
        max_minutes: float | None,
        strategy: tf.distribute.Strategy,
    ) -> None:
        super().__init__()
        self.run, self.excerpts, self.history, self.strategy = run, excerpts, history, strategy
        self.done = done  # completed epochs (across resumes)
        self.budget_s = None if max_minutes is None else 60 * max_minutes
        self.stopped = False  # the budget ended the run
        self.started = self.epoch_started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        run, net = self.run, self.model
        self.history.append(
            {
                "epoch": epoch + 1,
                **{name: float(value) for name, value in (logs or {}).items()},
                "seconds": round(time.monotonic() - self.epoch_started, 3),
            }
        )
        save_checkpoint(net, run.model_dir, epoch + 1, self.history, run.train.keep_checkpoints)
        write_history(run.model_dir, self.history)
        if is_best_epoch(self.history):
            export_generator(net, run.model_dir)
        for excerpt in self.excerpts:
            write_samples(net, excerpt, run.spectrogram, run.model_dir, epoch + 1)
        write_curves(run.model_dir, self.history)
        self.done = epoch + 1
        if self.budget_s is not None and self.done < run.train.epochs:
            spent = time.monotonic() - self.started >= self.budget_s
            if max(_worker_values(self.strategy, int(spent))):
                self.stopped = net.stop_training = True


def train(
    features_path,
    model_dir,
    origin: str,
    target: str | Sequence[str],
    *,
    mode: str = "gan",
    model: ModelConfig | dict[str, Any] | None = None,
    config: TrainConfig | dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    epoch_offset: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train (or resume training) a Pix2Pix model; writes the model directory of the module
    docstring.

    Args:
        features_path: folder written by ``compute_features.py``.
        model_dir: output folder (created).
        origin: input instrument, e.g. ``"keyboard_acoustic"``.
        target: output instrument, e.g. ``"string_acoustic"``, or several for one model that
            converts to each (``config.json`` records them as ``targets``; validation losses,
            samples and curves per target; the first is conversion's default).
        mode: ``"gan"`` (pix2pix) or ``"generator"`` (the generator alone, L1 loss).
        model: architecture; ``None`` or a dict of fields: the saved one when resuming, else
            the defaults, with the dict's fields on top (:func:`resolve_configs`).
        config: optimisation settings, resolved like ``model``.
            ``config.epochs`` counts all epochs, so resuming with a larger value trains on.
        resume: continue the run in ``model_dir`` from its newest checkpoint (a fresh start if it
            has none).
        force: start over in a ``model_dir`` that holds a run (its run files are deleted).
        epoch_offset: with ``resume``, the epoch the caller expects to continue from (checked).
        max_minutes: wall-clock budget; no new epoch starts once it is spent (the current one
            finishes,
            its outputs and ``generator.keras`` are written).
        progress: show Keras progress bars (``Epoch k/N``: ``N`` is ``config.epochs``, also on a
            resumed run).
        callbacks: Keras callbacks added to the run's one ``fit`` call (after the run's own, which
            writes each epoch's outputs; ``epoch`` counts from 0 across resumes, and
            ``on_train_begin``/``on_train_end`` bracket the epochs this call trains). They see
            every epoch's logs, may set ``model.stop_training`` (training ends after the current
            epoch, whose checkpoint is written; on a cluster every worker must stop alike) and
            are not saved: pass them again when resuming.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: origin equal to target, a batch size larger than the training set or not a
            multiple of the replicas, an unknown mode, a callback that is not a Keras callback.
        DatasetError: missing/corrupt features, instruments absent from them.
        ModelError: ``model_dir`` holds another run (without ``resume``/``force``), or the resumed
            run's spectrogram or model settings differ, or the workers of a cluster found
            different checkpoints.
    """
    if max_minutes is not None and not max_minutes > 0:
        raise ConfigError(f"max_minutes={max_minutes} must be > 0")
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ConfigError(
                f"callbacks: {callback!r} (expected keras.callbacks.Callback objects)"
            )
    if not HAS_TENSORBOARD:
        warnings.warn(
            "the tensorboard package is not installed; no TensorBoard logs (pip install "
            "tensorboard)",
            stacklevel=2,
        )
    run, manifest = prepare(
        features_path, model_dir, origin, target, mode, model, config, resume, force
    )
    data = open_data(run, manifest)
    steps = steps_per_epoch(run, data)
    strategy = make_strategy(run.train.distribute)  # "multiworker": before any other TF op
    _check_replicas(run, strategy)
    with _chief_lock(run, strategy), Session(run.train):
        net = build_model(run, strategy, steps * run.train.epochs)
        with strategy.scope():  # restoring creates the optimisers' variables
            done, history = _restore(net, run, epoch_offset) if resume and not force else (0, [])
        _check_same_start(run, strategy, done)  # also: nobody writes before every worker has read
        with _output_run(run, strategy) as out:
            if force:
                out.files.clear_run()
            out.files.write_config(out.to_dict())
            write_history(out.model_dir, history)
            guard = _NonFiniteStop(run, data)
            result = _loop(
                net, out, data, steps, done, history, max_minutes, progress, strategy,
                [guard, *callbacks],
            )  # fmt: skip
    return dataclasses.replace(result, model_dir=run.model_dir, generator_path=run.files.generator)


@contextlib.contextmanager
def _chief_lock(run: Run, strategy: tf.distribute.Strategy):
    """Hold the model directory's run lock (:func:`timbre.io.atomic.run_lock`) while this run
    writes it (removing the temporary files a killed run left), and if the run fails (or is
    interrupted) before its first checkpoint, remove what it wrote, so the same command can
    start again.

    Only the chief writes the model directory; the other workers of a cluster (which share it)
    neither lock nor clean it.

    Raises:
        BusyError: another run holds the model directory.
    """
    if not is_chief(strategy):
        yield
        return
    folder = run.model_dir
    created = not folder.exists()
    before = {name for name in RUN_FILES if (folder / name).exists()}
    try:
        with run_lock(folder, "train.py"):
            files = run.files  # what a killed run was writing
            remove_temporaries([folder, files.checkpoints, files.sample(1, "").parent])
            try:
                yield
            except BaseException:
                if not list_checkpoints(folder):
                    _remove_new(folder, before)
                raise
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        raise


def _remove_new(folder: Path, before: set[str]) -> None:
    """Remove the run files (:data:`timbre.formats.model_dir.RUN_FILES`) not in ``before``."""
    for name in RUN_FILES:
        path = folder / name
        if name in before or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class _NonFiniteStop(keras.callbacks.Callback):
    """Stops training at the first non-finite loss (training or validation) with a
    :class:`~timbre.errors.TimbreError` that names the tile files holding NaN or inf, or, when
    the data are finite, the settings that made training diverge. Nothing of that epoch is
    written (the error leaves ``fit`` before the epoch's checkpoint)."""

    def __init__(self, run: Run, data: RunData) -> None:
        super().__init__()
        self.run, self.data = run, data
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._check(f"epoch {self.epoch + 1}, step {batch + 1}", logs)

    def on_test_batch_end(self, batch: int, logs=None) -> None:
        self._check(f"epoch {self.epoch + 1}, validation step {batch + 1}", logs)

    def _check(self, where: str, logs) -> None:
        bad = {k: v for k, v in (logs or {}).items() if not np.all(np.isfinite(np.asarray(v)))}
        if not bad:
            return
        losses = ", ".join(f"{k}={float(np.asarray(v).ravel()[0])}" for k, v in bad.items())
        files = nonfinite_tile_files(self._tile_files())
        if files:
            more = f" (and {len(files) - 1} more files)" if len(files) > 1 else ""
            raise DatasetError(
                f"{where}: non-finite loss ({losses}): {files[0]} holds NaN or inf values{more} "
                "(expected finite tiles); recompute those features with compute_features.py"
            )
        train = self.run.train
        raise ConfigError(
            f"{where}: non-finite loss ({losses}) from finite features: training diverged "
            f"(gen_lr={train.gen_lr:g}, disc_lr={train.disc_lr:g}, "
            f"mixed_precision={train.mixed_precision!r}); lower --gen_lr/--disc_lr, or use "
            "--mixed_precision bf16 or off instead of fp16"
        )

    def _tile_files(self) -> list[Path]:
        manifest, run = self.data.manifest, self.run
        splits = [run.train_split] + ([run.val_split] if run.val_split is not None else [])
        return [
            manifest.tile_path(instrument, piece)
            for split in splits
            for piece in manifest.select(split)
            for instrument in (run.origin, *run.targets)
        ]


def _check_same_start(run: Run, strategy: tf.distribute.Strategy, done: int) -> None:
    """Raise ModelError unless every worker restored the same epoch (a collective)."""
    found = sorted(set(_worker_values(strategy, done)))
    if len(found) > 1:
        raise ModelError(
            f"{run.model_dir}: the workers continue from different epochs {found} (expected the "
            "same checkpoints on every worker: --model_dir must be one folder that every worker "
            "reads at the same path)"
        )


def _loop(
    net: Pix2Pix,
    run: Run,
    data: RunData,
    steps: int,
    done: int,
    history: list[dict],
    max_minutes: float | None,
    progress: bool,
    strategy: tf.distribute.Strategy,
    callbacks: Sequence[keras.callbacks.Callback],
) -> TrainResult:
    """Epochs ``done + 1 .. config.epochs`` in one ``fit`` call, each followed by its outputs
    (:class:`_EpochOutputs`), then the user's ``callbacks``."""
    split = run.val_split if run.val_split is not None else run.train_split  # else a train piece
    excerpts = [load_excerpt(data.manifest, split, run.origin, target) for target in run.targets]
    if run.multi:
        excerpts = [
            dataclasses.replace(
                excerpt, condition=np.eye(len(run.targets), dtype="float32")[k], label=target
            )
            for k, (target, excerpt) in enumerate(zip(run.targets, excerpts))
        ]
    outputs = _EpochOutputs(run, excerpts, history, done, max_minutes, strategy)
    logging = (
        [keras.callbacks.TensorBoard(str(run.files.logs), write_graph=False)]
        if HAS_TENSORBOARD
        else []
    )
    if done < run.train.epochs:
        net.fit(
            train_data(run, data, range(done, run.train.epochs), steps, strategy),
            steps_per_epoch=steps,
            validation_data=_val_data(run, data, strategy),
            initial_epoch=done,
            epochs=run.train.epochs,
            callbacks=[*logging, outputs, *callbacks],
            shuffle=False,
            verbose=1 if progress else 0,
        )
    if outputs.done == done and not run.files.generator.exists():  # killed before its export
        export_generator(net, run.model_dir)
    return TrainResult(
        run.model_dir, outputs.done, outputs.history, outputs.stopped, run.files.generator
    )
