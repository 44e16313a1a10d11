"""``timbre export``: a trained model as a converter for deployment, or its ONNX generator.

``--format saved_model|tflite|onnx --output PATH`` writes one self-contained
graph: a waveform chunk at the model's rate in, the converted chunk out (STFT,
generator, blend and input-phase inverse STFT inside). ``--format
generator_onnx`` adds ``generator.onnx`` to the model directory, so that
predict.py and evaluate.py convert with ONNX Runtime, without TensorFlow
(training writes it itself since it exists; older model directories lack it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import add_model_flag, add_output_flags, run, start_tensorflow
from timbre.errors import ConfigError
from timbre.io.atomic import naming_failures, remove_temporaries, run_lock
from timbre.io.paths import same_file

FORMATS = ("saved_model", "tflite", "onnx", "generator_onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timbre export",
        description=(
            "Write a trained model as a self-contained converter (waveform chunk in, waveform "
            "chunk out, at the model's rate) for TensorFlow, TFLite or ONNX Runtime, or add "
            "generator.onnx to its model directory (--format generator_onnx)."
        ),
    )
    add_model_flag(parser, required=True)
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="saved_model (a folder), tflite, onnx: a converter written to --output; "
        "generator_onnx: <model>/generator.onnx, the generator alone, for predict.py",
    )
    parser.add_argument(
        "--output", type=Path, help="file or folder to write (not with generator_onnx)"
    )
    parser.add_argument(
        "--target",
        help="a multi-target model's instrument to convert to (default: its first; converters "
        "only: generator_onnx keeps every target)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_output_flags(parser)
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.formats import shipped
    from timbre.formats.model_dir import ModelDir, check_model_file, read_model_info

    args.model = shipped.resolve(args.model)  # a shipped model's name, or a path as given
    check_model_file(args.model)  # a truncated or code-carrying file fails before TensorFlow
    info = read_model_info(args.model)
    target_name, _ = info.condition(args.target)  # an unknown target fails before TensorFlow
    if args.format == "generator_onnx":
        if args.output is not None:
            raise ConfigError(
                "--output with --format generator_onnx (expected none: it writes "
                f"{ModelDir(info.directory).generator_onnx})"
            )
        if shipped.FOLDER.resolve() in info.directory.resolve().parents:
            raise ConfigError(
                f"--model {info.directory.name}: a shipped model, which has its generator.onnx "
                "already (expected a model directory of your own; `python -m "
                "timbre.cli.pretrained --onnx_only` rewrites the shipped ones)"
            )
        target = ModelDir(info.directory).generator_onnx
    elif args.output is None:
        raise ConfigError(f"--format {args.format} needs --output (the file or folder to write)")
    else:
        target = args.output
    if args.output is not None:
        _check_not_an_input(target, info.directory)
    folder = target.parent
    with run_lock(folder, "timbre export"):  # one export per folder; --force checked inside
        remove_temporaries([folder])  # what a killed export left (we hold the lock)
        if args.output is not None and target.exists() and not args.force:
            raise ConfigError(f"{target}: already exists; use --force to overwrite")
        start_tensorflow(args.verbose)
        from timbre.tf import export  # TensorFlow

        with naming_failures(target):  # errors name the user's path, not a temporary one
            if args.format == "generator_onnx":
                written = export.add_generator_onnx(args.model)
            else:
                written = export.export_converter(
                    args.model, target, args.format, target=args.target
                )
        _WRITTEN.append(written)
    if args.format == "generator_onnx":
        print(f"wrote {written} (predict.py and evaluate.py now run it with ONNX Runtime)")
    else:
        rate = info.spectrogram.sample_rate
        to = f" -> {target_name}" if info.targets else ""
        print(f"wrote {written}{to}: audio at {rate} Hz in (1-D float32), the same length out")
    return 0


_WRITTEN: list[Path] = []  # what this process has exported, for the Ctrl-C message


def _check_not_an_input(output: Path, model: Path) -> None:
    """Refuse an output that is the model directory, one of its files, or a folder holding it.

    Raises:
        ConfigError: names both paths.
    """
    if same_file(output, model) or any(same_file(output, p) for p in model.iterdir()):
        raise ConfigError(
            f"--output {output}: is the model {model} or one of its files (expected another "
            "path: export never writes over its input, even with --force)"
        )
    if output.is_dir() and output.resolve() in model.resolve().parents:
        raise ConfigError(
            f"--output {output}: holds the model {model} (expected another folder: replacing "
            "it would delete the model)"
        )


def _interrupted() -> str:
    if _WRITTEN:
        return f"{_WRITTEN[-1]} was written completely before the interruption"
    return "nothing was written (an export appears whole or not at all); rerun to export"


def main(argv: Sequence[str] | None = None) -> int:
    _WRITTEN.clear()
    return run(build_parser(), _body, argv, interrupted=_interrupted)
