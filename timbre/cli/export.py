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

from timbre.cli.common import add_output_flags, run, start_tensorflow
from timbre.errors import ConfigError

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
    parser.add_argument(
        "--model", required=True, type=Path, help="model directory (or its generator.keras)"
    )
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
    from timbre.formats.model_dir import ModelDir, read_model_info

    info = read_model_info(args.model)
    target_name, _ = info.condition(args.target)  # an unknown target fails before TensorFlow
    if args.format == "generator_onnx":
        if args.output is not None:
            raise ConfigError(
                "--output with --format generator_onnx (expected none: it writes "
                f"{ModelDir(info.directory).generator_onnx})"
            )
        target = ModelDir(info.directory).generator_onnx
    elif args.output is None:
        raise ConfigError(f"--format {args.format} needs --output (the file or folder to write)")
    else:
        target = args.output
    if args.output is not None and target.exists() and not args.force:
        raise ConfigError(f"{target}: already exists; use --force to overwrite")
    start_tensorflow(args.verbose)
    from timbre.tf import export  # TensorFlow

    if args.format == "generator_onnx":
        written = export.add_generator_onnx(args.model)
        print(f"wrote {written} (predict.py and evaluate.py now run it with ONNX Runtime)")
    else:
        written = export.export_converter(args.model, target, args.format, target=args.target)
        rate = info.spectrogram.sample_rate
        to = f" -> {target_name}" if info.targets else ""
        print(f"wrote {written}{to}: audio at {rate} Hz in (1-D float32), the same length out")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv, interrupted="nothing was written; rerun to export")
