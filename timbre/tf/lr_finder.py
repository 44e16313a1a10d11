"""Learning-rate finder: an exponential sweep of the learning rate over a short run (Smith 2017).

The learning rate of both optimisers grows geometrically from ``min_lr`` to
``max_lr`` over ``steps`` training steps; the loss of each step (``gen_total``
in GAN mode, ``gen_l1`` for the generator alone) is recorded and smoothed with
an exponential moving average (bias-corrected). The sweep stops early once the
smoothed loss exceeds ``diverge`` times its minimum. The suggestion is the
learning rate where the smoothed loss falls fastest against log(learning rate)
(the steepest descent), searched before the minimum of the smoothed loss.
The sweep trains a throw-away model: nothing in the model directory but the
sweep's CSV and PNG is written.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from timbre import plotting
from timbre.errors import ConfigError
from timbre.io.atomic import atomic_path
from timbre.settings import ModelConfig, TrainConfig
from timbre.tf.distribute import make_strategy
from timbre.tf.fit import Session, build_model
from timbre.tf.pipeline import open_data, steps_per_epoch, train_data
from timbre.tf.pix2pix import Pix2Pix
from timbre.tf.run import prepare

CSV_FILE, PNG_FILE = "lr_finder.csv", "lr_finder.png"


@dataclasses.dataclass(frozen=True)
class LRSweep:
    """One sweep: arrays of equal length, one entry per step taken."""

    learning_rates: np.ndarray  # learning rate of each step
    losses: np.ndarray  # loss of each step's batch
    smoothed: np.ndarray  # bias-corrected exponential moving average of ``losses``
    suggestion: float  # learning rate at the steepest descent of ``smoothed``


class _SweepCallback(keras.callbacks.Callback):
    """Sets the learning rate before each step and records that step's loss."""

    def __init__(self, rates: np.ndarray, loss_name: str, beta: float, diverge: float) -> None:
        super().__init__()
        self.rates, self.loss_name, self.beta, self.diverge = rates, loss_name, beta, diverge
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average = 0.0

    def on_train_batch_begin(self, batch, logs=None) -> None:
        for optimizer in self.model.optimizers:
            optimizer.learning_rate = float(self.rates[len(self.losses)])
        self.model.reset_metrics()  # the logs of this step then hold this batch's loss alone

    def on_train_batch_end(self, batch, logs=None) -> None:
        loss = float(logs[self.loss_name])
        self.average = self.beta * self.average + (1 - self.beta) * loss
        self.losses.append(loss)
        self.smoothed.append(self.average / (1 - self.beta ** len(self.losses)))
        if not np.isfinite(loss) or self.smoothed[-1] > self.diverge * min(self.smoothed):
            self.model.stop_training = True


def suggest(learning_rates: np.ndarray, smoothed: np.ndarray) -> float:
    """Learning rate of the steepest descent of ``smoothed`` vs log(learning rate).

    Only the part before the minimum of ``smoothed`` counts.
    """
    end = int(np.argmin(smoothed)) + 1
    if end < 3:
        return float(learning_rates[max(end - 1, 0)])
    slopes = np.gradient(smoothed[:end], np.log(learning_rates[:end]))
    return float(learning_rates[int(np.argmin(slopes))])


def sweep(
    model: Pix2Pix,
    data,
    steps: int = 100,
    min_lr: float = 1e-7,
    max_lr: float = 1.0,
    beta: float = 0.9,
    diverge: float = 4.0,
    progress: bool = False,
) -> LRSweep:
    """Run the sweep on ``model`` (compiled; it is trained, so pass a throw-away one).

    Args:
        model: the GAN or the generator alone.
        data: a dataset of at least ``steps`` (origin, target) batches.
        steps: steps of the full sweep (>= 3).
        min_lr: first learning rate.
        max_lr: last learning rate (> min_lr).
        beta: smoothing of the loss (0: none).
        diverge: stop once the smoothed loss exceeds this many times its minimum.
        progress: show Keras' progress bar.

    Raises:
        ConfigError: bad ``steps`` or learning-rate range.
    """
    if not isinstance(steps, int) or steps < 3:
        raise ConfigError(f"steps={steps!r} must be an integer >= 3")
    if not 0 < min_lr < max_lr:
        raise ConfigError(
            f"learning-rate range [{min_lr}, {max_lr}] (expected 0 < min_lr < max_lr)"
        )
    rates = np.geomspace(min_lr, max_lr, steps)
    name = "gen_total" if "gen_total" in model.trackers else "gen_l1"  # the minimised loss
    callback = _SweepCallback(rates, name, beta, diverge)
    model.fit(
        data, steps_per_epoch=steps, epochs=1, callbacks=[callback], verbose=1 if progress else 0
    )
    taken = len(callback.losses)
    smoothed = np.asarray(callback.smoothed)
    return LRSweep(
        rates[:taken], np.asarray(callback.losses), smoothed, suggest(rates[:taken], smoothed)
    )


def write_sweep(result: LRSweep, folder: str | Path) -> tuple[Path, Path]:
    """Write ``lr_finder.csv`` (learning_rate, loss, smoothed) and ``lr_finder.png``.

    Returns:
        Both paths.
    """
    folder = Path(folder)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["learning_rate", "loss", "smoothed"])
    writer.writerows(
        zip(result.learning_rates.tolist(), result.losses.tolist(), result.smoothed.tolist())
    )
    with atomic_path(folder / CSV_FILE) as tmp:
        tmp.write_text(text.getvalue())
    figure = plotting.lr_finder_figure(
        result.learning_rates, result.losses, result.smoothed, result.suggestion
    )
    plotting.save_figure(figure, folder / PNG_FILE)
    return folder / CSV_FILE, folder / PNG_FILE


def find_learning_rate(
    features_path,
    model_dir,
    origin: str,
    target: str | Sequence[str],
    *,
    mode: str = "gan",
    model: ModelConfig | None = None,
    config: TrainConfig | None = None,
    steps: int = 100,
    min_lr: float = 1e-7,
    max_lr: float = 1.0,
    progress: bool = True,
) -> LRSweep:
    """Sweep the learning rate on the training pairs; writes the CSV and PNG into ``model_dir``.

    Uses a fresh model built like :func:`timbre.tf.fit.train` would (a run
    already in ``model_dir`` lends its settings and is left untouched).

    Raises:
        The errors of :func:`timbre.tf.fit.train`'s checks, and those of :func:`sweep`.
    """
    run, manifest = prepare(
        features_path, model_dir, origin, target, mode, model, config, resume=True, force=False
    )
    opened = open_data(run, manifest)
    per_epoch = steps_per_epoch(run, opened)  # checks the batch size
    with Session(run.train):
        net = build_model(run, make_strategy(run.train.distribute))
        epochs = range(-(-steps // per_epoch))  # the batches of training's first epochs
        data = train_data(run, opened, epochs, per_epoch)
        result = sweep(net, data, steps, min_lr, max_lr, progress=progress)
    write_sweep(result, run.model_dir)
    return result
