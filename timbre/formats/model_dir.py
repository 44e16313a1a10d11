"""The model directory's layout, in one place (TensorFlow-free).

A model directory, written by :mod:`timbre.tf.fit` and read by
conversion, evaluation and the demo::

    config.json          {"version", "mode", "origin", "target", "origin_level_db",
                          "features_path", "spectrogram", "model", "train"}, and for a
                          multi-target model "targets" (in the one-hot order of the
                          generator's second input; "target" is the first of them)
    checkpoints/         epoch_XXXX.npz: the full state after an epoch
                         (:mod:`timbre.tf.checkpoints`); the newest few are kept
    history.csv          one row per completed epoch (epoch, losses, val_ losses, seconds)
    logs/                TensorBoard
    samples/             epoch_XXX.png, epoch_XXX.wav: a fixed validation excerpt
                         (a multi-target model: epoch_XXX_<target>.png/.wav)
    curves.png           training curves, redrawn every epoch
    generator.keras      the exported generator of the best epoch so far
    generator.onnx       the same generator in ONNX, float32, written with generator.keras
                         (conversion runs it with ONNX Runtime, without TensorFlow); it
                         records the SHA-256 of the generator.keras it was made from
    eval/                evaluate.py's results (its default output folder)

Every other module asks this one for a path; none spells a file name itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from timbre.errors import ConfigError, DatasetError, ModelError
from timbre.formats import instruments
from timbre.io.atomic import read_json, write_json
from timbre.settings import SpectrogramConfig

CONFIG_FILE = "config.json"  # every setting of the run, origin and target
GENERATOR_FILE = "generator.keras"  # the exported generator
GENERATOR_ONNX_FILE = "generator.onnx"  # its float32 ONNX copy (optional: older runs lack it)
CHECKPOINT_DIR = "checkpoints"
HISTORY_FILE = "history.csv"
SAMPLES_DIR = "samples"
CURVES_FILE = "curves.png"
LOG_DIR = "logs"
EVAL_DIR = "eval"
RUN_FILES = (
    CONFIG_FILE,
    HISTORY_FILE,
    GENERATOR_FILE,
    GENERATOR_ONNX_FILE,
    CURVES_FILE,
    CHECKPOINT_DIR,
    SAMPLES_DIR,
    LOG_DIR,
)  # what a training run writes (and ``--force`` removes)
CONFIG_KEYS = (  # the top-level keys of config.json (timbre.tf.run.Run.to_dict writes them)
    "version",
    "mode",
    "origin",
    "target",
    "targets",
    "origin_level_db",
    "features_path",
    "spectrogram",
    "model",
    "train",
)
CODE = {"Lambda": "a Lambda layer", "__lambda__": "a serialised lambda"}  # Keras's code
NOT_A_MODEL = (
    "expected a model directory holding config.json and generator.keras, "
    "or the generator.keras inside one"
)


@dataclasses.dataclass(frozen=True)
class ModelDir:
    """Paths inside one model directory (nothing is read until asked)."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def generator(self) -> Path:
        return self.path / GENERATOR_FILE

    @property
    def generator_onnx(self) -> Path:
        return self.path / GENERATOR_ONNX_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def curves(self) -> Path:
        return self.path / CURVES_FILE

    @property
    def logs(self) -> Path:
        return self.path / LOG_DIR

    @property
    def eval(self) -> Path:
        return self.path / EVAL_DIR

    def checkpoint(self, epoch: int) -> Path:
        """``checkpoints/epoch_XXXX.npz``: the full state after ``epoch`` completed epochs."""
        return self.checkpoints / f"epoch_{epoch:04d}.npz"

    def sample(self, epoch: int, suffix: str) -> Path:
        """``samples/epoch_XXX<suffix>`` of a completed epoch (1-based)."""
        return self.path / SAMPLES_DIR / f"epoch_{epoch:03d}{suffix}"

    def read_config(self) -> dict[str, Any] | None:
        """The ``config.json`` as written by training, or ``None`` when there is none."""
        return read_json(self.config) if self.config.exists() else None

    def write_config(self, data: dict[str, Any]) -> None:
        write_json(self.config, data)

    def clear_run(self) -> None:
        """Remove what a previous run wrote (``--force``); other files are left alone."""
        for name in RUN_FILES:
            path = self.path / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Where a model directory's files are and what its ``config.json`` says."""

    directory: Path  # the model directory
    generator: Path  # its generator.keras (or the .keras file that was named)
    spectrogram: SpectrogramConfig  # the settings the generator was trained with
    origin: str | None  # input instrument (None when config.json does not say)
    target: str | None  # output instrument (likewise)
    origin_level_db: float | None = None  # median active level (dBFS) of the training pieces'
    # origin audio (timbre.dsp.level.active_level_db); None when config.json does not say
    generator_onnx: Path | None = None  # its generator.onnx; None when the directory has none
    targets: tuple[str, ...] = ()  # a multi-target model's targets (one-hot order); else ()

    @property
    def converts_to(self) -> tuple[str, ...]:
        """Every target the model converts to: ``targets``, or its one ``target`` (``()`` when
        config.json does not say)."""
        return self.targets or ((self.target,) if self.target else ())

    def condition(self, target: str | None = None) -> tuple[str | None, np.ndarray | None]:
        """``(target, one-hot)`` for converting to ``target`` (default: the model's first), which
        may be a short name (``guitar``, ``strings``: :mod:`timbre.formats.instruments`).

        A single-target model takes no condition: ``(its target, None)``, and ``target``, when
        given, must be its own (a model without a recorded target takes any).

        Raises:
            ConfigError: a target the model was not trained for (names the ones it was).
        """
        if target is not None and self.converts_to:
            target = instruments.resolve(target, self.converts_to, str(self.directory))
        if not self.targets:
            return target or self.target, None
        chosen = target or self.targets[0]
        return chosen, np.eye(len(self.targets), dtype=np.float32)[self.targets.index(chosen)]


def read_model_info(model_path: str | os.PathLike) -> ModelInfo:
    """Read a model directory, or the ``generator.keras`` inside one, without loading the network.

    Raises:
        ModelError: the path is missing or not a model, a file is missing,
            ``config.json`` is unreadable or has no usable spectrogram settings.
    """
    path = Path(model_path)
    if not path.exists():
        raise ModelError(f"{path}: not found ({NOT_A_MODEL})")
    directory, generator = (path, path / GENERATOR_FILE) if path.is_dir() else (path.parent, path)
    if generator.suffix != ".keras":
        raise ModelError(f"{path}: not a model, not a .keras file ({NOT_A_MODEL})")
    config_path = directory / CONFIG_FILE
    missing = [p.name for p in (config_path, generator) if not p.is_file()]
    if missing:
        raise ModelError(
            f"{path}: not a model, {' and '.join(missing)} missing in {directory} ({NOT_A_MODEL})"
        )
    try:
        data = read_json(config_path)
    except DatasetError as e:
        raise ModelError(f"{e} ({NOT_A_MODEL})") from e
    if not isinstance(data, dict) or not isinstance(data.get("spectrogram"), dict):
        raise ModelError(
            f"{config_path}: no 'spectrogram' settings (expected the config.json that training "
            "writes)"
        )
    try:
        spectrogram = SpectrogramConfig.from_dict(data["spectrogram"], source=str(config_path))
    except (ConfigError, TypeError) as e:
        raise ModelError(f"{config_path}: unusable spectrogram settings ({e})") from e
    onnx = directory / GENERATOR_ONNX_FILE
    level = data.get("origin_level_db")
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, float))):
        raise ModelError(f"{config_path}: origin_level_db={level!r} (expected a number, dBFS)")
    targets = data.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise ModelError(
            f"{config_path}: targets={targets!r} (expected a list of instrument names)"
        )
    return ModelInfo(
        directory,
        generator,
        spectrogram,
        data.get("origin"),
        targets[0] if targets else data.get("target"),
        None if level is None else float(level),
        onnx if onnx.is_file() else None,
        tuple(targets) if len(targets) > 1 else (),
    )


def check_model_file(model: str | os.PathLike) -> Path:
    """The generator file of ``model`` (a model directory or its ``.keras`` file), checked to
    be an intact Keras archive before TensorFlow loads it.

    Raises:
        ModelError: not a model directory, or a generator file that is not a readable
            ``.keras`` archive (names the file; Keras itself would call it "not found").
    """
    generator = read_model_info(model).generator
    try:
        with zipfile.ZipFile(generator) as archive:
            names, damaged = archive.namelist(), archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        damaged, names = str(e) or type(e).__name__, []
    if damaged is not None or "config.json" not in names:
        what = f"damaged ({damaged})" if damaged else "not a Keras model archive"
        raise ModelError(
            f"{generator}: corrupt or truncated model file: {what} (expected the generator.keras "
            "that train.py exports); export it again or copy the whole model directory again"
        )
    with zipfile.ZipFile(generator) as archive:
        layers = archive.read("config.json").decode(errors="replace")
    try:
        code = _carries_code(json.loads(layers))
    except ValueError:
        code = None  # Keras itself says what is wrong with the archive's config
    if code:
        raise ModelError(
            f"{generator}: refused: the model carries Python code ({code}), which timbre never "
            "runs (it could do anything); use a generator.keras made by train.py"
        )
    return generator


def _carries_code(config) -> str | None:
    """What in a Keras archive's ``config.json`` is code (a ``Lambda`` layer, a serialised
    lambda), or ``None``."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") in CODE:
                return CODE[item["class_name"]]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
