"""The Keras callbacks of a training run: each epoch's outputs, the stop at a non-finite loss, and
the clock a time-boxed schedule follows.

Crash safety: every file is written atomically, and each epoch's checkpoint is
written before ``history.csv`` is rebuilt from it (:class:`EpochOutputs`; the
files are :mod:`timbre.tf.checkpoints`'), so a run killed at any moment resumes
with ``resume=True`` after the last checkpointed epoch. An epoch whose loss is
not finite writes nothing (:class:`NonFiniteStop`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from timbre.errors import ConfigError, DatasetError
from timbre.formats.feature_store import nonfinite_tile_files
from timbre.tf.checkpoints import save_checkpoint, write_history
from timbre.tf.distribute import worker_count, worker_values
from timbre.tf.run import Run, RunData
from timbre.tf.run_dir import export_generator, is_best_epoch, write_curves
from timbre.tf.samples import write_samples


class TrainingClock:
    """Seconds a run has trained: ``before_s`` (its earlier calls: the restored history's epoch
    seconds) plus the time since :meth:`start`, on ``clock`` (a monotonic clock; a test's fake)."""

    def __init__(self, clock: Callable[[], float], before_s: float = 0.0) -> None:
        self.clock, self.before_s = clock, float(before_s)
        self.started = clock()

    def start(self) -> None:
        """This call's training begins now."""
        self.started = self.clock()

    def now(self) -> float:
        return self.clock()

    def elapsed_s(self) -> float:
        return self.before_s + self.clock() - self.started


class FollowTheClock(keras.callbacks.Callback):
    """Sets a time-boxed schedule's progress (:class:`timbre.tf.fit.ClockCosineDecay`) to the
    share of ``budget_s`` spent, at 1 once it is: before every step on one machine; on a
    cluster before every epoch, the workers agreeing on the largest (the same learning rate
    everywhere, or the replicas' weights would drift apart)."""

    def __init__(
        self,
        timer: TrainingClock,
        budget_s: float,
        progress: keras.Variable,
        strategy: tf.distribute.Strategy,
    ) -> None:
        super().__init__()
        self.timer, self.budget_s, self.progress, self.strategy = (
            timer,
            budget_s,
            progress,
            strategy,
        )
        self.cluster = worker_count(strategy) > 1

    def share(self) -> float:
        return min(self.timer.elapsed_s() / self.budget_s, 1.0)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        share = self.share()
        if self.cluster:
            share = max(worker_values(self.strategy, int(share * 1e6))) / 1e6
        self.progress.assign(share)

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        if not self.cluster:
            self.progress.assign(self.share())


class EpochOutputs(keras.callbacks.Callback):
    """The work after each epoch of ``fit``: its history row, checkpoint, ``history.csv``, the
    best epoch's export, samples, curves, and the wall-clock budget (``model.stop_training``).

    Every worker of a cluster runs it (writing into its own ``run.model_dir``) and they stop
    after the same epoch: the time budget is spent when it is spent on any worker. The budget
    counts the whole run's time (``timer``: earlier calls' too).
    """

    def __init__(
        self,
        run: Run,
        excerpts: list,
        history: list[dict],
        done: int,
        max_minutes: float | None,
        strategy: tf.distribute.Strategy,
        timer: TrainingClock,
    ) -> None:
        super().__init__()
        self.run, self.excerpts, self.history, self.strategy = run, excerpts, history, strategy
        self.done = done  # completed epochs (across resumes)
        self.budget_s = None if max_minutes is None else 60 * max_minutes
        self.stopped = False  # the budget ended the run
        self.timer = timer
        self.epoch_started = timer.now()

    def on_train_begin(self, logs=None) -> None:
        self.timer.start()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch_started = self.timer.now()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        run, net = self.run, self.model
        self.history.append(
            {
                "epoch": epoch + 1,
                **{name: float(value) for name, value in (logs or {}).items()},
                # the generator's learning rate as the epoch ends (a time-boxed cosine: its floor)
                "gen_lr": float(keras.ops.convert_to_numpy(net.optimizer.learning_rate)),
                "seconds": round(self.timer.now() - self.epoch_started, 3),
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
            spent = self.timer.elapsed_s() >= self.budget_s
            if max(worker_values(self.strategy, int(spent))):
                self.stopped = net.stop_training = True


class NonFiniteStop(keras.callbacks.Callback):
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
