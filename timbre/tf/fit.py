"""Training runs: a model directory that survives any crash, trained with Keras ``fit``.

:func:`train` is the recipe: prepare the run (:mod:`timbre.tf.run`), open its
data (:mod:`timbre.tf.pipeline`), build the model under the run's strategy
(:mod:`timbre.tf.distribute`), restore the newest checkpoint when resuming
(:mod:`timbre.tf.run_dir`), fit, and export the best generator. A run calls
Keras ``fit`` once, from the completed epochs to ``config.epochs`` (so the
progress bar counts against the total, and callbacks span the run); the work
after each epoch is a callback (:mod:`timbre.tf.callbacks`).

Resuming: the data order is a function of the seed and the epoch
(:mod:`timbre.tf.pipeline`), and dropout seed states and both optimisers are
in the checkpoint. With ``deterministic=True`` (TF op determinism,
:class:`Session`) a resumed run's weights and optimiser state equal the
uninterrupted run's bit for bit (tested), and so do the logged losses except
``gen_total``, which may differ in its last bit (the sum ``gen_gan + l1_weight
* gen_l1`` is not always rounded the same way). Without it they agree up to
floating-point reduction order.

A time-boxed run (``max_minutes``) with ``lr_decay="cosine"`` decays over the time it has:
the cosine's progress is ``max(step / total_steps, elapsed / budget)``
(:class:`ClockCosineDecay`, fed by :class:`~timbre.tf.callbacks.FollowTheClock`), so a
busy machine trains fewer epochs but still ends at the floor. ``elapsed`` counts across
resumes (the checkpointed history's epoch seconds), so a resumed run continues the
schedule where it stopped; the budget, too, is the whole run's.

Several targets (``target`` a list): each epoch reports and samples every
target (:mod:`timbre.tf.pix2pix`). One target trains and saves exactly as
before.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from timbre.errors import ConfigError, ModelError
from timbre.settings import ModelConfig, TrainConfig
from timbre.tf.callbacks import EpochOutputs, FollowTheClock, NonFiniteStop, TrainingClock
from timbre.tf.checkpoints import write_history
from timbre.tf.distribute import check_replicas, check_same_start, make_strategy, output_run
from timbre.tf.networks import build_discriminator, build_generator
from timbre.tf.pipeline import open_data, steps_per_epoch, train_data, val_data
from timbre.tf.pix2pix import Pix2Pix, adam
from timbre.tf.precision import policy
from timbre.tf.run import Run, RunData, prepare
from timbre.tf.run_dir import chief_lock, export_generator, restore
from timbre.tf.samples import load_excerpt

LR_FLOOR = 0.05  # lr_decay="cosine" ends at this fraction of each learning rate
HAS_TENSORBOARD = (
    importlib.util.find_spec("tensorboard") is not None
)  # TF >= 2.20 no longer installs it


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training run did."""

    model_dir: Path  # the model directory (written by the chief alone in a cluster)
    epochs_done: int  # completed epochs in total, across resumes
    history: list[dict[str, float]]  # one row per completed epoch (as history.csv)
    stopped_by_budget: bool  # max_minutes ended the run before config.epochs
    generator_path: Path  # the exported generator


@dataclasses.dataclass
class Session:
    """Process-wide TF settings of a run: seed, precision policy (restored afterwards, for
    in-process callers such as tests) and op determinism (TF cannot switch it off again: it
    stays on)."""

    config: TrainConfig

    def __enter__(self) -> Session:
        self.policy = keras.mixed_precision.global_policy()
        keras.utils.set_random_seed(self.config.seed)
        if self.config.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(policy(self.config.mixed_precision))
        return self

    def __exit__(self, *exc) -> None:
        keras.mixed_precision.set_global_policy(self.policy)


class ClockCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A half cosine from ``initial_learning_rate`` to ``alpha`` times it, over a progress of
    ``max(step / decay_steps, time_progress)``.

    ``time_progress`` is a variable in [0, 1] that :class:`~timbre.tf.callbacks.FollowTheClock`
    sets to the share of the time budget spent; at 0 this is Keras' ``CosineDecay``.
    """

    def __init__(
        self, initial_learning_rate: float, decay_steps: int, alpha: float, time_progress
    ) -> None:
        self.initial_learning_rate, self.decay_steps, self.alpha = (
            initial_learning_rate,
            decay_steps,
            alpha,
        )
        self.time_progress = time_progress

    def __call__(self, step):
        steps = keras.ops.cast(step, "float32") / float(self.decay_steps)
        progress = keras.ops.clip(keras.ops.maximum(steps, self.time_progress), 0.0, 1.0)
        cosine = 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
        }


def build_model(
    run: Run,
    strategy: tf.distribute.Strategy,
    total_steps: int | None = None,
    time_progress: keras.Variable | None = None,
) -> Pix2Pix:
    """Generator (+ discriminator in GAN mode) and their Adam optimisers, under ``strategy``.

    With ``lr_decay="cosine"`` and ``total_steps`` (all epochs' steps), each learning rate
    follows a half cosine from its value to :data:`LR_FLOOR` times it; the schedule counts
    the optimiser's own steps, which the checkpoints keep, so a resumed run continues it.
    With ``time_progress`` (a time-boxed run: :func:`time_progress_variable`) the cosine
    moves on by the clock too (:class:`ClockCosineDecay`).
    """
    spec, config = run.spectrogram, run.train
    fp16 = config.mixed_precision == "fp16"

    def rate(value: float):
        if config.lr_decay == "cosine" and total_steps and time_progress is not None:
            return ClockCosineDecay(value, total_steps, LR_FLOOR, time_progress)
        if config.lr_decay == "cosine" and total_steps:
            return keras.optimizers.schedules.CosineDecay(value, total_steps, alpha=LR_FLOOR)
        return value

    shape = (spec.n_bins, spec.tile_frames, len(run.targets))
    with strategy.scope():
        generator = build_generator(run.model, *shape)
        discriminator = build_discriminator(run.model, *shape) if run.mode == "gan" else None
        model = Pix2Pix(
            generator,
            discriminator,
            l1_weight=config.l1_weight,
            targets=run.targets,
            sc_weight=config.sc_weight,
            amin=spec.amin,
        )
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


def time_progress_variable(strategy: tf.distribute.Strategy) -> keras.Variable:
    """The share of a time budget spent, 0 to 1, read by :class:`ClockCosineDecay` (not saved:
    a resumed run recomputes it from its elapsed time)."""
    with strategy.scope():
        return keras.Variable(0.0, dtype="float32", trainable=False, name="time_progress")


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
    init_from: str | os.PathLike | None = None,
    progress: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    clock: Callable[[], float] = time.monotonic,
) -> TrainResult:
    """Train (or resume training) a Pix2Pix model; writes the model directory
    (:mod:`timbre.formats.model_dir`).

    Args:
        features_path: folder written by ``compute_features.py``.
        model_dir: output folder (created).
        origin: input instrument, e.g. ``"keyboard_acoustic"``.
        target: output instrument, e.g. ``"string_acoustic"``, or several for one model that
            converts to each (``config.json`` records them as ``targets``; validation losses,
            samples and curves per target; the first is conversion's default).
        mode: ``"gan"`` (pix2pix) or ``"generator"`` (the generator alone, L1 loss).
        model: architecture; ``None`` or a dict of fields: the saved one when resuming, else
            the defaults, with the dict's fields on top (:func:`timbre.tf.run.resolve_configs`).
        config: optimisation settings, resolved like ``model``.
            ``config.epochs`` counts all epochs, so resuming with a larger value trains on.
        resume: continue the run in ``model_dir`` from its newest checkpoint (a fresh start if it
            has none).
        force: start over in a ``model_dir`` that holds a run (its run files are deleted).
        epoch_offset: with ``resume``, the epoch the caller expects to continue from (checked).
        max_minutes: wall-clock budget of the whole run, counted across resumes (the
            checkpointed history's epoch seconds); no new epoch starts once it is spent (the
            current one finishes, its outputs and ``generator.keras`` are written). With
            ``lr_decay="cosine"`` the schedule decays over it too (see the module docstring).
        init_from: a model directory (or its ``generator.keras``) whose generator weights a
            fresh run starts from, layer by layer by name (:func:`start_from`): a single-target
            model starts a multi-target one of the same architecture as itself (its FiLM layers
            start at zero). Ignored when a resumed run has epochs.
        progress: show Keras progress bars (``Epoch k/N``: ``N`` is ``config.epochs``, also on a
            resumed run).
        callbacks: Keras callbacks added to the run's one ``fit`` call (after the run's own, which
            writes each epoch's outputs; ``epoch`` counts from 0 across resumes, and
            ``on_train_begin``/``on_train_end`` bracket the epochs this call trains). They see
            every epoch's logs, may set ``model.stop_training`` (training ends after the current
            epoch, whose checkpoint is written; on a cluster every worker must stop alike) and
            are not saved: pass them again when resuming.
        clock: seconds of a monotonic clock (a test passes a fake one); times epochs, the
            budget and the schedule.

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
    _check_arguments(max_minutes, callbacks)
    run, manifest = prepare(
        features_path, model_dir, origin, target, mode, model, config, resume, force
    )
    data = open_data(run, manifest)
    steps = steps_per_epoch(run, data)
    strategy = make_strategy(run.train.distribute)  # "multiworker": before any other TF op
    check_replicas(run, strategy)
    with chief_lock(run, strategy), Session(run.train):
        boxed = max_minutes is not None and run.train.lr_decay == "cosine"
        time_progress = time_progress_variable(strategy) if boxed else None
        net = build_model(run, strategy, steps * run.train.epochs, time_progress)
        with strategy.scope():  # restoring creates the optimisers' variables
            done, history = restore(net, run, epoch_offset) if resume and not force else (0, [])
            if init_from is not None and done == 0:
                start_from(net.generator, init_from)
        check_same_start(run, strategy, done)  # also: nobody writes before every worker has read
        timer = TrainingClock(clock, sum(row.get("seconds", 0.0) for row in history))
        own = [NonFiniteStop(run, data)]
        if time_progress is not None:
            own.append(FollowTheClock(timer, 60 * max_minutes, time_progress, strategy))
        with output_run(run, strategy) as out:
            _start_outputs(out, history, force)
            result = _fit(
                net, out, data, steps, done, history, max_minutes, progress, strategy,
                [*own, *callbacks], timer,
            )  # fmt: skip
    return dataclasses.replace(result, model_dir=run.model_dir, generator_path=run.files.generator)


def start_from(generator: keras.Model, source: str | os.PathLike) -> int:
    """Copy the weights of ``source``'s generator into ``generator``, layer by layer by name.

    Layers ``source`` lacks keep their initial values (a multi-target model's FiLM layers:
    zero, so it starts as the single-target model it comes from).

    Returns:
        The number of layers copied.

    Raises:
        ModelError: an unreadable source, a layer whose weights differ in shape (another
            architecture), or no layer in common.
    """
    from timbre.formats.model_dir import ModelDir
    from timbre.tf.keras_generator import load_model

    path = Path(source)
    path = ModelDir(path).generator if path.is_dir() else path
    layers = {layer.name: layer for layer in load_model(path).layers if layer.weights}
    copied = 0
    for layer in generator.layers:
        if layer.name not in layers or not layer.weights:
            continue
        weights = layers[layer.name].get_weights()
        shapes = [tuple(w.shape) for w in weights], [tuple(v.shape) for v in layer.weights]
        if shapes[0] != shapes[1]:
            raise ModelError(
                f"--init_from {path}: layer {layer.name} has weights {shapes[0]}, this model "
                f"{shapes[1]} (another architecture: use the source's model settings)"
            )
        layer.set_weights([np.asarray(w, dtype=v.dtype) for w, v in zip(weights, layer.weights)])
        copied += 1
    if not copied:
        raise ModelError(f"--init_from {path}: no layer in common with this generator")
    return copied


def _check_arguments(
    max_minutes: float | None, callbacks: Sequence[keras.callbacks.Callback]
) -> None:
    """Check :func:`train`'s own arguments; warn (at its caller) when TensorBoard is missing."""
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
            stacklevel=3,
        )


def _start_outputs(run: Run, history: list[dict], force: bool) -> None:
    """Write the run's ``config.json`` and ``history.csv`` (clearing an old run when forced)."""
    if force:
        run.files.clear_run()
    run.files.write_config(run.to_dict())
    write_history(run.model_dir, history)


def _fit(
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
    timer: TrainingClock,
) -> TrainResult:
    """Epochs ``done + 1 .. config.epochs`` in one ``fit`` call, each followed by its outputs
    (:class:`~timbre.tf.callbacks.EpochOutputs`), then the user's ``callbacks``; the generator
    is exported if no epoch did (a run killed before its export)."""
    outputs = EpochOutputs(run, _excerpts(run, data), history, done, max_minutes, strategy, timer)
    logging = (
        [keras.callbacks.TensorBoard(str(run.files.logs), write_graph=False)]
        if HAS_TENSORBOARD
        else []
    )
    if done < run.train.epochs:
        net.fit(
            train_data(run, data, range(done, run.train.epochs), steps, strategy),
            steps_per_epoch=steps,
            validation_data=val_data(run, data, strategy),
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


def _excerpts(run: Run, data: RunData) -> list:
    """The excerpt each epoch's samples convert, one per target (validation pieces first, else a
    training piece); several targets: each with its target's one-hot condition."""
    split = run.val_split if run.val_split is not None else run.train_split  # else a train piece
    excerpts = [load_excerpt(data.manifest, split, run.origin, target) for target in run.targets]
    if run.multi:
        excerpts = [
            dataclasses.replace(
                excerpt, condition=np.eye(len(run.targets), dtype="float32")[k], label=target
            )
            for k, (target, excerpt) in enumerate(zip(run.targets, excerpts))
        ]
    return excerpts
