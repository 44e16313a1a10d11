"""The settings of one training run, checked and resolved once (:func:`prepare`).

:func:`prepare` checks the request (mode, origin, targets), reads the feature
manifest once, resolves the model and optimisation settings (the saved run's
when resuming, :func:`resolve_configs`), picks the training and validation
splits, and refuses a model directory that holds another run. The result is a
:class:`Run`: what ``config.json`` records, handed to every later stage.

Several targets (``target`` a list) make one model that converts to each
(:mod:`timbre.tf.networks`); ``config.json`` then records them as
``targets``. One target keeps the format it always had.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from timbre.errors import ConfigError, ModelError
from timbre.formats.feature_store import FeatureManifest, load_manifest
from timbre.formats.model_dir import ModelDir
from timbre.settings import ModelConfig, SpectrogramConfig, TrainConfig
from timbre.tf.checkpoints import list_checkpoints
from timbre.tf.networks import check_tile_shape
from timbre.tf.pairs import PairSet, split_by_fraction

MODES = ("gan", "generator")


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
    """A run's training inputs, opened once (:func:`timbre.tf.pipeline.open_data`)."""

    manifest: FeatureManifest
    train: tuple[PairSet, ...]  # one per target, in the run's order
    val: tuple[PairSet, ...] | None  # likewise; None: no validation pieces


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
    parts = split_by_fraction(pieces, config.validation_fraction, seed=config.seed)
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
