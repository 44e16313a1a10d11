#!/usr/bin/env python3
"""Forward STFT + normalisation + tiling throughput on a 60 s file, in tiles per second.

Usage: python bench/bench_spectrogram.py [--seconds 60] [--repeats 5]
Prints the figures; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from timbre.dsp import stft as sp
from timbre.dsp import tiling
from timbre.settings import SpectrogramConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = SpectrogramConfig()
    audio = (
        0.3 * np.random.default_rng(0).standard_normal(int(args.seconds * config.sample_rate))
    ).astype(np.float32)
    tiling.tile(sp.log_spectrogram(audio, config)[0], config.tile_frames)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        spectrogram, _ = sp.log_spectrogram(audio, config)
        tiles = tiling.tile(spectrogram, config.tile_frames, overlap=0).astype(np.float16)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"machine: {platform.processor() or platform.machine()}, 1 process")
    print(
        f"{args.seconds:.0f} s of 44.1 kHz audio -> {len(tiles)} tiles of "
        f"{tiles.shape[1]}x{tiles.shape[2]}"
    )
    print(
        f"forward+tiling: {best * 1000:.1f} ms best of {args.repeats} -> {len(tiles) / best:.0f} "
        "tiles/s, "
        f"{args.seconds / best:.0f}x real time"
    )


if __name__ == "__main__":
    main()
