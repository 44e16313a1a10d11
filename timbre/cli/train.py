"""``train.py``: train the Pix2Pix GAN on an (origin, target) instrument pair.

The same parser and body serve ``train_generator.py`` (``mode="generator"``:
the generator alone, L1 loss, no discriminator flags).
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import add_output_flags, positive_float, run, start_tensorflow
from timbre.errors import ConfigError, DatasetError
from timbre.formats import feature_store, shipped
from timbre.formats.model_dir import CONFIG_KEYS
from timbre.io.atomic import naming_failures, read_json, run_lock
from timbre.settings import (
    ModelConfig,
    SpectrogramConfig,
    TrainConfig,
    add_arguments,
    fields_given,
)

DESCRIPTIONS = {
    "gan": (
        "Train the Pix2Pix timbre-transfer GAN (U-Net generator + PatchGAN) on an instrument pair."
    ),
    "generator": "Train the Pix2Pix U-Net generator alone with an L1 loss (no discriminator).",
}
GAN_ONLY = ("disc_lr", "l1_weight")  # TrainConfig fields without a generator-only flag
MODEL_FLAGS = ("base_filters", "depth", "dropout", "dropout_blocks", "disc_layers")


def _yes_no(text: str) -> bool:
    """argparse type: true/false, yes/no, 1/0 (``--findlr True``, as the original project)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} (expected true or false)")


def build_parser(mode: str) -> argparse.ArgumentParser:
    """The parser of train.py (``mode="gan"``) or train_generator.py (``mode="generator"``).

    Optimisation flags default to ``None``: the saved value when resuming, else the default.
    """
    parser = argparse.ArgumentParser(
        prog="train.py" if mode == "gan" else "train_generator.py", description=DESCRIPTIONS[mode]
    )
    parser.add_argument(
        "--dataset_path",
        "--features_path",
        dest="dataset_path",
        help="features folder written by compute_features.py",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="train from a saved configuration: a model directory's config.json (e.g. "
        "demo/model/config.json); its features, instruments and settings are the defaults, "
        "flags given override them",
    )
    parser.add_argument("--origin", help="input instrument, e.g. keyboard_acoustic")
    parser.add_argument(
        "--target",
        help="output instrument, e.g. string_acoustic; several, comma-separated "
        "(string_acoustic,guitar_acoustic,synth_lead_synthetic), train one model that converts "
        "to each (balanced per step; predict.py --target picks one)",
    )
    parser.add_argument(
        "--model",
        "--model_dir",
        dest="model_dir",
        help="model directory to write (default: models/<origin>_to_<target>[_generator]; "
        "targets joined by '+')",
    )
    parser.add_argument(
        "--gpu", type=int, help="use only this GPU (-1: CPU only; default: TensorFlow's choice)"
    )
    parser.add_argument(
        "--epoch_offset",
        type=int,
        help="continue from this completed epoch (implies --resume; "
        "must be the model directory's last one)",
    )
    parser.add_argument(
        "--findlr",
        nargs="?",
        const=True,
        default=False,
        type=_yes_no,
        help="only sweep the learning rate: writes lr_finder.csv "
        "and lr_finder.png to the model directory and prints the suggestion "
        "(--findlr, or --findlr true as in the original project)",
    )
    optimisation = [f.name for f in dataclasses.fields(TrainConfig)]
    if mode != "gan":
        optimisation = [name for name in optimisation if name not in GAN_ONLY]
    add_arguments(parser, TrainConfig, optimisation, defaults_none=True)
    add_arguments(parser, ModelConfig, MODEL_FLAGS, defaults_none=True)
    parser.add_argument(
        "--max_minutes", type=positive_float, help="wall-clock budget: no epoch starts after it"
    )
    parser.add_argument(
        "--init_from",
        help="a model directory (or a shipped model's name) whose generator weights a fresh run "
        "starts from, layer by layer (same model settings; a single-target model may start a "
        "multi-target one)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --model_dir (after a crash too)"
    )
    parser.add_argument(
        "--force", action="store_true", help="start over in a --model_dir that holds a run"
    )
    add_output_flags(parser)
    return parser


def _overrides(args: argparse.Namespace) -> tuple[dict, dict]:
    """The model and training fields given as flags (the library puts them on the saved run's
    settings when resuming, else on the defaults: :func:`timbre.tf.run.resolve_configs`)."""
    return fields_given(args, ModelConfig), fields_given(args, TrainConfig)


def _from_config(args: argparse.Namespace, mode: str) -> tuple[dict, dict]:
    """Fill ``args`` from ``--config`` (a model directory's config.json); given flags win.

    Returns:
        The model and training fields to use: the flags given, on top of the
        saved ones when ``--config`` is given (then complete).
    """
    model, train = _overrides(args)
    if args.config is None:
        return model, train
    saved = read_json(args.config)
    if not isinstance(saved, dict) or not isinstance(saved.get("train"), dict):
        raise ConfigError(
            f"--config {args.config}: no 'train' settings (expected the config.json that training "
            "writes in a model directory)"
        )
    unknown = sorted(set(saved) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            f"--config {args.config}: unknown keys {unknown} (expected some of "
            f"{', '.join(CONFIG_KEYS)})"
        )
    if saved.get("mode", mode) != mode:
        script = "train.py" if saved["mode"] == "gan" else "train_generator.py"
        raise ConfigError(
            f"--config {args.config}: a {saved['mode']!r} run (expected {mode!r}); use {script}"
        )
    targets = saved.get("targets")
    if targets is not None:  # a multi-target run
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise ConfigError(
                f"--config {args.config}: targets={targets!r:.60} (expected instrument names)"
            )
        saved = {**saved, "target": ",".join(targets)}
    for flag, key in (
        ("dataset_path", "features_path"),
        ("origin", "origin"),
        ("target", "target"),
    ):
        value = saved.get(key)
        if value is not None and (not isinstance(value, str) or not value or "\0" in value):
            raise ConfigError(
                f"--config {args.config}: {key}={value!r:.60} (expected a "
                f"{'folder path' if key == 'features_path' else 'instrument name'})"
            )
        if getattr(args, flag) is None:
            setattr(args, flag, value)
    for part in ("spectrogram", "model", "train"):
        if not isinstance(saved.get(part, {}), dict):
            raise ConfigError(f"--config {args.config}: '{part}' is not an object of settings")
    if "spectrogram" in saved:  # training takes the features' own; a typo here is still one
        SpectrogramConfig.from_dict(saved["spectrogram"], source=f"--config {args.config}")
    return {**saved.get("model", {}), **model}, {**saved["train"], **train}


def body(args: argparse.Namespace, mode: str) -> int:
    """Check paths, build the configs, make one library call, print the outcome."""
    model, config = _from_config(args, mode)
    missing = [
        f"--{flag}" for flag in ("dataset_path", "origin", "target") if not getattr(args, flag)
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required (or give --config with a saved run)")
    held_out = args.validation_fraction
    if held_out is not None and held_out > 0.5:
        warnings.warn(
            f"--validation_split {held_out}: holds out {held_out:.0%} of "
            "the pieces for validation (here it is the held-out fraction; the original project's "
            "flag was the training fraction)",
            stacklevel=1,
        )
    features = Path(args.dataset_path)
    if not feature_store.manifest_path(features).is_file():
        raise DatasetError(
            f"{features}: no {feature_store.MANIFEST} (expected a features folder written by "
            "compute_features.py)"
        )
    suffix = "_generator" if mode == "generator" else ""
    targets = [name.strip() for name in args.target.split(",")]
    target = targets[0] if len(targets) == 1 else targets
    model_dir = Path(args.model_dir or f"models/{args.origin}_to_{'+'.join(targets)}{suffix}")
    args.resume = args.resume or args.epoch_offset is not None
    if args.config is not None:  # the saved settings, complete: taken as they are
        try:
            model, config = ModelConfig.from_dict(model), TrainConfig.from_dict(config)
        except (TypeError, ValueError) as e:
            if not isinstance(e, ConfigError):
                raise ConfigError(f"--config {args.config}: unusable settings ({e})") from e
            if str(args.config) in str(e):
                raise
            raise ConfigError(f"--config {args.config}: {e}") from e
    start_tensorflow(args.verbose)  # only once the arguments are known to be usable
    from timbre.tf import distribute, fit
    from timbre.tf.checkpoints import NOT_LOSSES

    distribute.select_gpu(args.gpu)
    common = dict(mode=mode, model=model, config=config, progress=not args.quiet)
    if args.findlr:
        from timbre.tf import lr_finder

        with run_lock(model_dir, "train.py --findlr"), naming_failures(model_dir):
            result = lr_finder.find_learning_rate(
                features, model_dir, args.origin, target, **common
            )
        print(
            f"suggested learning rate: {result.suggestion:.3g} (steepest descent; sweep in "
            f"{model_dir / lr_finder.CSV_FILE} and {model_dir / lr_finder.PNG_FILE})"
        )
        return 0
    with naming_failures(model_dir):
        result = fit.train(
            features,
            model_dir,
            args.origin,
            target,
            resume=args.resume,
            force=args.force,
            epoch_offset=args.epoch_offset,
            max_minutes=args.max_minutes,
            init_from=None if args.init_from is None else shipped.resolve(args.init_from),
            **common,
        )
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in NOT_LOSSES)
    budget = " (time budget reached)" if result.stopped_by_budget else ""
    print(
        f"{result.epochs_done} epoch(s) done{budget}; last: {losses or 'none'}; generator: "
        f"{result.generator_path}"
    )
    return 0


def main(argv: Sequence[str] | None = None, mode: str = "gan") -> int:
    return run(
        build_parser(mode),
        lambda args: body(args, mode),
        argv,
        interrupted="rerun the same command with --resume to continue after the last finished "
        "epoch (a --findlr sweep: rerun it as it was)",
    )
