#!/usr/bin/env python3
"""Feature computation (tiles/s, all cores) and tf.data pipeline throughput (pairs/s).

Usage: python bench/bench_features.py [--minutes 20] [--jobs N] [--batch_size 8] [--passes 5]

Writes ``--minutes`` of synthetic paired audio per instrument (two instruments,
30 s pieces of random notes plus noise, 44.1 kHz) to a temporary folder, then:
  1. times ``compute_features`` with ``--jobs`` processes (default: all cores) on
     the default 256 x 256 tiles, cold (first call in this process: includes
     loading librosa's parts) and warm (best of 3), and with one process for comparison;
  2. times the training pipeline (``make_dataset``, shuffled, augmented) over
     the computed tiles for ``--passes`` passes after one warm-up batch.
The CPU-second figure (user + system time of all processes) shows the cost per
tile even when other work shares the cores. Prints the figures; asserts nothing
(timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from timbre.data.features import compute_features
from timbre.formats import audio_folder
from timbre.io import audio

INSTRUMENTS = ("keyboard_acoustic", "string_acoustic")
PIECE_SECONDS = 30.0
SAMPLE_RATE = 44100


def write_audio(folder: Path, minutes: float) -> int:
    """Paired random-note pieces; returns the number of pieces."""
    rng = np.random.default_rng(0)
    n_pieces = max(1, round(minutes * 60 / PIECE_SECONDS))
    n = int(PIECE_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pieces = {}
    for number in range(n_pieces):
        notes = np.repeat(440.0 * 2 ** ((rng.integers(40, 80, 60) - 69) / 12), n // 60 + 1)[:n]
        phase = 2 * np.pi * np.cumsum(notes) / SAMPLE_RATE
        for k, instrument in enumerate(INSTRUMENTS):
            tone = 0.3 * np.sin((k + 1) * phase) * np.exp(
                -((t % 0.5) * 4)
            ) + 0.003 * rng.standard_normal(n)
            path = audio_folder.piece_path(folder, instrument, f"piece{number:03d}")
            audio.save(path, tone.astype(np.float32), SAMPLE_RATE)
        pieces[f"piece{number:03d}"] = {"midi": "", "seconds": PIECE_SECONDS, "split": "train"}
    audio_folder.write(
        folder,
        {"sample_rate": SAMPLE_RATE, "instruments": list(INSTRUMENTS)},
        pieces,
        {"train": sorted(pieces), "val": [], "test": []},
        {},
    )
    return n_pieces


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers), user + system."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_features(audios: Path, features: Path, jobs: int) -> tuple[float, int, float]:
    """(wall seconds, tiles written over all instruments, CPU seconds)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = compute_features(audios, features, jobs=jobs, progress=False)
    return time.perf_counter() - start, summary.n_tiles * len(INSTRUMENTS), cpu_seconds() - cpu


def time_pipeline(features: Path, batch_size: int, passes: int, augment: bool) -> tuple[float, int]:
    from timbre.tf.pairs import count_pairs, make_dataset

    dataset = make_dataset(
        features, *INSTRUMENTS, "train", batch_size, augment=augment, repeat=True, seed=1
    )
    iterator = iter(dataset)
    next(iterator)  # warm-up: builds the pipeline
    n_batches = passes * count_pairs(features, *INSTRUMENTS, "train") // batch_size
    start = time.perf_counter()
    pairs = 0
    for _ in range(n_batches):
        origin, _ = next(iterator)
        pairs += int(origin.shape[0])
    return time.perf_counter() - start, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="audio per instrument")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        tmp = Path(tmp)
        n_pieces = write_audio(tmp / "audios", args.minutes)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{n_pieces} pieces x {len(INSTRUMENTS)} instruments, {args.minutes:g} min of 44.1 kHz "
            "audio each"
        )
        for label, jobs, repeats in [
            ("cold", args.jobs, 1),
            ("warm", args.jobs, 3),
            ("warm", 1, 3),
        ]:
            runs = [
                time_features(tmp / "audios", tmp / f"f{jobs}_{label}_{r}", jobs)
                for r in range(repeats)
            ]
            seconds, tiles, cpu = min(runs)
            best = f", best of {repeats}" if repeats > 1 else ""
            print(
                f"features ({label}, {jobs} process{'es' if jobs > 1 else ''}{best}): {tiles} "
                "tiles of 256x256 "
                f"float16 in {seconds:.2f} s -> {tiles / seconds:.0f} tiles/s ({tiles / cpu:.0f} "
                "per CPU-second)"
            )
        for augment in (True, False):
            seconds, pairs = time_pipeline(
                tmp / f"f{args.jobs}_cold_0", args.batch_size, args.passes, augment
            )
            print(
                f"pipeline (batch {args.batch_size}, shuffled, augment={augment}): {pairs} pairs "
                f"in {seconds:.2f} s "
                f"-> {pairs / seconds:.0f} pairs/s ({pairs / seconds / 10:.0f}x a 10 samples/s "
                "training)"
            )


if __name__ == "__main__":
    main()
