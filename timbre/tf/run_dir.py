"""The model directory over a training run: locked, restored, the best generator exported.

The model directory's layout is :mod:`timbre.formats.model_dir`'s, its
checkpoints and ``history.csv`` :mod:`timbre.tf.checkpoints`'. ``generator.keras``
holds the generator of the best epoch so far (:func:`is_best_epoch`): the
lowest validation L1 (:data:`BEST_METRIC`), or the last epoch when there is no
validation.

A run holds the directory's lock while it writes (:func:`chief_lock`). One
that fails or is interrupted before its first checkpoint removes what it
wrote, so the same command can start again; after that, a resumed run
continues from the newest checkpoint (:func:`restore`).
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from timbre import plotting
from timbre.errors import ModelError
from timbre.formats.model_dir import RUN_FILES, ModelDir
from timbre.io.atomic import atomic_path, remove_temporaries, run_lock
from timbre.tf.checkpoints import NOT_LOSSES, list_checkpoints, load_checkpoint
from timbre.tf.distribute import is_chief
from timbre.tf.export import write_generator_onnx
from timbre.tf.pix2pix import Pix2Pix
from timbre.tf.run import Run

BEST_METRIC = "val_gen_l1"  # the validation loss that picks the exported generator (both modes)


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
    """Plot every logged loss of ``history`` (one row per epoch) into the directory's curves
    image (not the learning rate, ``gen_lr``: it is no loss)."""
    series = {
        key: [row.get(key, np.nan) for row in history]
        for key in sorted({k for row in history for k in row} - NOT_LOSSES)
    }
    plotting.save_figure(plotting.history_figure(series), ModelDir(model_dir).curves)


def restore(model: Pix2Pix, run: Run, epoch_offset: int | None) -> tuple[int, list[dict]]:
    """Load the newest checkpoint of ``run.model_dir`` into ``model`` (built, under the run's
    strategy scope); with ``lr_decay="none"`` the run's learning rates replace the saved ones.

    Args:
        model: the run's model (:func:`timbre.tf.fit.build_model`).
        run: the run being resumed.
        epoch_offset: the epoch the caller expects to continue from (checked), or None.

    Returns:
        (completed epochs, history rows); (0, []) if there is no checkpoint.

    Raises:
        ModelError: ``epoch_offset`` is not the last completed epoch, or the checkpoint is
            unreadable or of another architecture.
    """
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


@contextlib.contextmanager
def chief_lock(run: Run, strategy: tf.distribute.Strategy) -> Iterator[None]:
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
