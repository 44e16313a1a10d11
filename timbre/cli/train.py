"""``train.py``: train the Pix2Pix GAN on an (origin, target) instrument pair.

The same parser and body serve ``train_generator.py`` (``mode="generator"``:
the generator alone, L1 loss, no discriminator flags).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import add_output_flags, positive_int, run, start_tensorflow
from timbre.errors import ConfigError, DatasetError
from timbre.formats import feature_store
from timbre.io.atomic import naming_failures, read_json, run_lock
from timbre.settings import DISTRIBUTE, MIXED_PRECISION, ModelConfig, TrainConfig

DESCRIPTIONS = {
    "gan": (
        "Train the Pix2Pix timbre-transfer GAN (U-Net generator + PatchGAN) on an instrument pair."
    ),
    "generator": "Train the Pix2Pix U-Net generator alone with an L1 loss (no discriminator).",
}
TRAIN_FLAGS = {  # flag -> TrainConfig field
    "batch_size": "batch_size",
    "epochs": "epochs",
    "steps_per_epoch": "steps_per_epoch",
    "gen_lr": "gen_lr",
    "disc_lr": "disc_lr",
    "l1_weight": "l1_weight",
    "beta_1": "beta_1",
    "keep_checkpoints": "keep_checkpoints",
    "validation_split": "validation_fraction",
    "seed": "seed",
    "mixed_precision": "mixed_precision",
    "distribute": "distribute",
    "deterministic": "deterministic",
}
MODEL_FLAGS = ("base_filters", "depth", "dropout", "dropout_blocks", "disc_layers")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1)")
    return value


def _yes_no(text: str) -> bool:
    """argparse type: true/false, yes/no, 1/0 (``--findlr True``, as the original project)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} (expected true or false)")


def _unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not > 0")
    return value


def build_parser(mode: str) -> argparse.ArgumentParser:
    """The parser of train.py (``mode="gan"``) or train_generator.py (``mode="generator"``).

    Optimisation flags default to ``None``: the saved value when resuming, else the default.
    """
    d = TrainConfig()
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
        "--epochs",
        type=positive_int,
        help=f"total epochs, counted across resumes: with --resume, training goes on until this "
        f"many are done ({d.epochs})",
    )
    parser.add_argument(
        "--epoch_offset",
        type=int,
        help="continue from this completed epoch (implies --resume; "
        "must be the model directory's last one)",
    )
    parser.add_argument(
        "--steps_per_epoch", type=positive_int, help="batches per epoch (default: one pass)"
    )
    parser.add_argument(
        "--batch_size", type=positive_int, help=f"tile pairs per step ({d.batch_size})"
    )
    parser.add_argument(
        "--gen_lr",
        "--lr",
        dest="gen_lr",
        type=_positive_float,
        help=f"generator Adam learning rate; --lr is an alias ({d.gen_lr})",
    )
    parser.add_argument(
        "--beta_1", type=_unit_interval, help=f"Adam beta_1 of both optimisers ({d.beta_1})"
    )
    if mode == "gan":
        parser.add_argument(
            "--disc_lr", type=_positive_float, help=f"discriminator learning rate ({d.disc_lr})"
        )
        parser.add_argument(
            "--l1_weight",
            type=_positive_float,
            help=f"L1 weight of the generator loss ({d.l1_weight})",
        )
    parser.add_argument(
        "--validation_split",
        type=_fraction,
        help="fraction of the pieces HELD OUT for validation when the features have no split "
        f"(the original project's flag was the training fraction) ({d.validation_fraction})",
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
    parser.add_argument(
        "--base_filters",
        type=positive_int,
        help=f"filters of the first block ({ModelConfig().base_filters})",
    )
    parser.add_argument(
        "--depth",
        type=positive_int,
        help=f"generator down blocks ({ModelConfig().depth}; tiles must be divisible by 2**depth)",
    )
    m = ModelConfig()
    parser.add_argument(
        "--dropout", type=_unit_interval, help=f"dropout rate of the first up blocks ({m.dropout})"
    )
    parser.add_argument(
        "--dropout_blocks",
        type=_non_negative_int,
        help=f"up blocks (from the bottleneck) with dropout ({m.dropout_blocks})",
    )
    parser.add_argument(
        "--disc_layers",
        type=positive_int,
        help=f"stride-2 blocks of the PatchGAN ({m.disc_layers}: 70x70 patches)",
    )
    parser.add_argument(
        "--keep_checkpoints",
        type=positive_int,
        help=f"newest full-state checkpoints kept ({d.keep_checkpoints})",
    )
    parser.add_argument(
        "--seed", type=int, help=f"seeds weights, dropout and the data order ({d.seed})"
    )
    parser.add_argument(
        "--mixed_precision",
        choices=MIXED_PRECISION,
        help="bf16 also speeds up CPUs with AVX512-BF16 (off)",
    )
    parser.add_argument("--distribute", choices=DISTRIBUTE, help="tf.distribute strategy (none)")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="TF op determinism: a resumed run equals an uninterrupted one bit for bit (slower)",
    )
    parser.add_argument(
        "--max_minutes", type=_positive_float, help="wall-clock budget: no epoch starts after it"
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
    train = {
        field: getattr(args, flag)
        for flag, field in TRAIN_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    model = {flag: getattr(args, flag) for flag in MODEL_FLAGS if getattr(args, flag) is not None}
    return model, train


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
    for part in ("model", "train"):
        if not isinstance(saved.get(part, {}), dict):
            raise ConfigError(f"--config {args.config}: '{part}' is not an object of settings")
    return {**saved.get("model", {}), **model}, {**saved["train"], **train}


def body(args: argparse.Namespace, mode: str) -> int:
    """Check paths, build the configs, make one library call, print the outcome."""
    model, config = _from_config(args, mode)
    missing = [
        f"--{flag}" for flag in ("dataset_path", "origin", "target") if not getattr(args, flag)
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required (or give --config with a saved run)")
    if args.validation_split is not None and args.validation_split > 0.5:
        warnings.warn(
            f"--validation_split {args.validation_split}: holds out {args.validation_split:.0%} of "
            "the pieces for validation (here it is the held-out fraction; the original project's "
            "flag was the training fraction)",
            stacklevel=1,
        )
    start_tensorflow(args.verbose)
    from timbre.tf import distribute, fit

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
    distribute.select_gpu(args.gpu)
    if args.config is not None:  # the saved settings, complete: taken as they are
        try:
            model, config = ModelConfig.from_dict(model), TrainConfig.from_dict(config)
        except (TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"--config {args.config}: unusable settings ({e})") from e
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
            **common,
        )
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("epoch", "seconds"))
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
