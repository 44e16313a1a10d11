"""compute_features.py / ``timbre features``: paired audio -> normalised log-magnitude tiles."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import add_jobs, add_output_flags, parse_instruments, report_failures, run
from timbre.errors import DatasetError
from timbre.formats import audio_folder, feature_store
from timbre.settings import FeatureConfig, SpectrogramConfig, add_arguments, fields_given


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compute_features.py",
        description=(
            "Turn <audios>/<instrument>/<piece>.wav (from synthesize_audios.py, or your own "
            "aligned recordings) into float16 tiles <features>/<instrument>/<piece>.npy and "
            f"<features>/{feature_store.MANIFEST}. Resumable: rerun to finish."
        ),
    )
    parser.add_argument(
        "--audios_path",
        "--audios",
        required=True,
        type=Path,
        help=f"folder written by synthesize_audios.py (holds {audio_folder.MANIFEST}), or "
        "<instrument>/<piece>.wav folders of your own recordings without one: files are paired "
        "by name across the instrument folders, lengths must be equal",
    )
    parser.add_argument(
        "--features_path", "--features", required=True, type=Path, help="output folder"
    )
    parser.add_argument(
        "--instruments",
        type=parse_instruments,
        default=None,
        help="comma-separated subset of the audio's instruments (default: all)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the 80/10/10 train/val/test split by piece of a folder without "
        f"{audio_folder.MANIFEST} (default: %(default)s)",
    )
    add_jobs(parser)
    add_arguments(parser, FeatureConfig)
    parser.add_argument(
        "--spectrogram_config",
        type=Path,
        default=None,
        help=(
            "JSON file of SpectrogramConfig fields "
            "(default: n_fft 1024, hop 512, 256 bins x 256 frames at 44.1 kHz)"
        ),
    )
    add_output_flags(parser)
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.data.features import compute_features  # imported here so --help stays fast

    if not args.audios_path.is_dir():
        raise DatasetError(f"--audios_path {args.audios_path}: folder not found")
    spectrogram = (
        SpectrogramConfig.load(args.spectrogram_config)
        if args.spectrogram_config
        else SpectrogramConfig()
    )
    features = FeatureConfig(**fields_given(args, FeatureConfig))
    summary = compute_features(
        args.audios_path,
        args.features_path,
        instruments=args.instruments,
        spectrogram=spectrogram,
        features=features,
        jobs=args.jobs,
        progress=not args.quiet,
        seed=args.seed,
    )
    print(
        f"{len(summary.computed)} pieces computed, {len(summary.skipped)} already done, "
        f"{len(summary.failed)} failed; {summary.n_tiles} tiles per instrument in "
        f"{summary.features_path}"
    )
    return report_failures(f"{piece}: {reason}" for piece, reason in summary.failed.items())


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)
