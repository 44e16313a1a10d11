"""The datasets that a run's ``fit`` iterates, made from the tile pairs of :mod:`timbre.tf.pairs`.

Inputs are opened once: :func:`open_data` reads the pairs of the training and
validation splits (with every tile file's header), and :func:`train_data`
chains the epochs' shuffles of them into one dataset, so one ``fit`` call
reads every epoch.

Data order: epoch ``e`` reads exactly ``steps_per_epoch`` batches of the
training pairs shuffled and shifted with seed ``seed + e`` (a function of that
seed alone), so a resumed epoch sees the batches the uninterrupted run would
have seen. On several workers each reads its own shard of the pairs
(:func:`train_data`).

Several targets: every step mixes the targets' pairs evenly
(:func:`train_data`), and validation holds every target's pairs, each batch
labelled with its target (:func:`val_data`).
"""

from __future__ import annotations

import dataclasses
import functools

import tensorflow as tf

from timbre.errors import ConfigError
from timbre.formats.feature_store import FeatureManifest
from timbre.tf.distribute import worker_count
from timbre.tf.pairs import STEADY, PairSet, open_pairs, pair_dataset
from timbre.tf.run import Run, RunData


def open_data(run: Run, manifest: FeatureManifest) -> RunData:
    """Open the training and validation pairs once (manifest entries and tile-file headers).

    Raises:
        DatasetError: an instrument is absent from the features, a missing or corrupt tile file.
    """

    def pairs(split: str | list[str]) -> tuple[PairSet, ...]:
        return tuple(
            open_pairs(manifest, run.origin, target, split, spectrogram=run.spectrogram)
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
    pairsets: tuple[PairSet, ...], batch_size: int, epochs: range, batches: int, epoch_seed
) -> tf.data.Dataset:
    """``batches`` shuffled, shifted batches of ``pairsets`` (one per target) per epoch of
    ``epochs``, epoch ``e``'s seeded with ``epoch_seed(e)`` (``e`` an int64 tensor); several
    targets are mixed as :func:`train_data` says."""
    n = len(pairsets)

    def epoch(number: tf.Tensor) -> tf.data.Dataset:
        seed = epoch_seed(number)
        parts = tuple(
            pair_dataset(
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
    return chained.with_options(STEADY)  # options apply per pipeline, not per part


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


def val_data(run: Run, data: RunData, strategy: tf.distribute.Strategy) -> tf.data.Dataset | None:
    """The validation batches (global batches of ``batch_size``, in order, not shifted); with
    several targets every target's pairs, one target after the other, each labelled.

    On several workers each one reads them all and evaluates its share of every batch
    (tf.data auto-sharding by data): the validation pairs are few.

    Returns:
        The dataset of ``(origin, target)`` batches (several targets: ``((origin, one_hot),
        target)``), or None when the run has no validation pieces.
    """
    if data.val is None:
        return None
    parts = [
        pair_dataset(pairs, run.train.batch_size, shuffle=False, augment=False)
        for pairs in data.val
    ]
    if len(parts) > 1:
        parts = [_labelled(part, k, len(parts)) for k, part in enumerate(parts)]
    batches = functools.reduce(tf.data.Dataset.concatenate, parts).with_options(STEADY)
    if worker_count(strategy) > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        batches = batches.with_options(options)
    return batches
