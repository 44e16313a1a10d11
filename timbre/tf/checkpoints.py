"""Full-state checkpoints and the history they carry, in a model directory.

Files (the whole model directory is described in :mod:`timbre.formats.model_dir`)::

    checkpoints/epoch_XXXX.npz   the full state after an epoch; newest ``keep`` kept
    history.csv                  one row per completed epoch (epoch, losses, val_ losses, seconds)

A checkpoint holds everything a resumed run needs to continue as if it had
never stopped: every state variable of the model (both networks with their
BatchNorm statistics and dropout seed states, both Adam optimisers), the
number of completed epochs and the whole history. It is a NumPy ``.npz``
archive (``meta.npy``: JSON with epoch, history and variable paths;
``vXXXX.npy``: one array per variable), written atomically, no pickle.

Crash safety: every file is written atomically; after each epoch the
checkpoint (which holds the whole history) is written first, then
``history.csv`` is rewritten from it, so the CSV only ever gains rows and a run
killed with SIGKILL at any moment and started again with ``resume=True``
continues after the last checkpointed epoch with every epoch in the history
exactly once. Keras' ``BackupAndRestore`` is not used: it saves the weights
and the epoch in two files (a kill between them disagrees) and ignores a
second optimiser kept as an attribute.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import keras
import numpy as np

from timbre.errors import ModelError
from timbre.formats.model_dir import ModelDir
from timbre.io.atomic import atomic_path
from timbre.tf.pix2pix import Pix2Pix


def list_checkpoints(model_dir: Path) -> dict[int, Path]:
    """The checkpoints in ``model_dir``, {completed epochs: path}, oldest first.

    {} if there are none.
    """
    folder = ModelDir(model_dir).checkpoints
    found = {}
    for path in folder.glob("epoch_*.npz") if folder.is_dir() else ():
        stem = path.stem.removeprefix("epoch_")
        if stem.isdigit():
            found[int(stem)] = path
    return dict(sorted(found.items()))


def save_checkpoint(
    model: Pix2Pix, model_dir: Path, epoch: int, history: list[dict], keep: int
) -> Path:
    """Write the full training state after ``epoch`` completed epochs.

    Older checkpoints are pruned to the newest ``keep``.
    """
    variables = model.state_variables()
    meta = {"epoch": epoch, "history": history, "paths": [v.path for v in variables]}
    path = ModelDir(model_dir).checkpoint(epoch)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        for name, value in [("meta", json.dumps(meta))] + [
            (f"v{i:04d}", v) for i, v in enumerate(variables)
        ]:
            with archive.open(
                f"{name}.npy", "w", force_zip64=True
            ) as f:  # one variable in memory at a time
                np.lib.format.write_array(
                    f, np.asarray(keras.ops.convert_to_numpy(value)), allow_pickle=False
                )
    for old in list(list_checkpoints(model_dir).values())[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(model: Pix2Pix, path: Path) -> tuple[int, list[dict]]:
    """Restore the full state saved by :func:`save_checkpoint`; returns (epoch, history).

    Raises:
        ModelError: unreadable file, or one saved from a different architecture.
    """
    model.build_optimizers()
    variables = model.state_variables()
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if len(meta["paths"]) != len(variables):
                raise ModelError(
                    f"{path}: {len(meta['paths'])} saved variables for a model with "
                    f"{len(variables)} "
                    f"(expected a checkpoint of the same architecture)"
                )
            for i, variable in enumerate(variables):
                value = data[f"v{i:04d}"]
                if value.shape != tuple(variable.shape):
                    raise ModelError(
                        f"{path}: {meta['paths'][i]} has shape {value.shape} (expected "
                        f"{tuple(variable.shape)} for {variable.path}; same architecture needed)"
                    )
                variable.assign(value)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: unreadable checkpoint ({e})") from e
    return int(meta["epoch"]), list(meta["history"])


NOT_LOSSES = frozenset({"epoch", "seconds", "gen_lr"})  # history columns that are no loss


def write_history(model_dir: Path, history: list[dict]) -> None:
    """(Re)write history.csv from all rows: the file only ever gains rows."""
    names = sorted({key for row in history for key in row} - {"epoch", "seconds"})
    text = io.StringIO()
    writer = csv.DictWriter(text, ["epoch", *names, "seconds"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_path(ModelDir(model_dir).history) as tmp:
        tmp.write_text(text.getvalue())


def read_history(model_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a model directory's history.csv (epoch as int), [] if there is none."""
    path = ModelDir(Path(model_dir)).history
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v != ""}
            for row in csv.DictReader(f)
        ]
