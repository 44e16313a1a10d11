#!/usr/bin/env python3
"""Conversion speed and memory with the default 54 M-parameter generator (random weights).

Usage: python bench/bench_predict.py [--seconds 60] [--minutes 1 10] [--batch_size 8]
Prints the real-time factor (audio seconds per wall second) of ``Converter.convert_file``
on a 44.1 kHz file for input phase and Griffin-Lim, and the peak memory (RSS) of
converting a 1-minute and a 10-minute file, each in a fresh subprocess.
With ``--phase_pair ORIGIN TARGET`` (two aligned recordings of one piece, e.g.
``<audios>/keyboard_acoustic/piece_0000.wav`` and ``<audios>/string_acoustic/piece_0000.wav``)
it instead compares the two phase modes on the true target magnitude (a perfect
generator), so only the phase step differs: scores against the true target and
the spectral convergence of each output to the magnitude it was asked to have.
Asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

from timbre import audio  # noqa: E402
from timbre.config import ModelConfig, SpectrogramConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_music(path: Path, seconds: float, sample_rate: int = 44100, seed: int = 0) -> None:
    """Write ``seconds`` of random harmonic notes, block by block (memory stays small)."""
    rng = np.random.default_rng(seed)
    with audio.AudioWriter(path, sample_rate, "FLOAT") as writer:
        left = int(seconds * sample_rate)
        while left > 0:
            n = min(left, int(rng.uniform(0.1, 0.6) * sample_rate))
            t = np.arange(n) / sample_rate
            f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
            note = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6) if f0 * k < 10000)
            writer.write((0.2 * note * np.exp(-t / 0.3)).astype(np.float32))
            left -= n


def default_converter(phase: str, batch_size: int, precision: str = "float32"):
    import keras

    from timbre.conversion.converter import Converter
    from timbre.training.model import build_generator

    keras.utils.set_random_seed(0)
    config = SpectrogramConfig()
    generator = build_generator(ModelConfig(), config.n_bins, config.tile_frames)
    return Converter(generator, config, phase=phase, batch_size=batch_size, precision=precision)


class RssSampler:
    """Samples this process's resident memory every ``interval`` s in a thread.

    ``peak_mb`` is the highest sample.
    """

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.process, self.interval, self.peak_mb = psutil.Process(), interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def child(minutes: float, batch_size: int) -> None:
    """Subprocess: convert a file of ``minutes``; print RSS before and the peak during, as JSON."""
    import psutil

    converter = default_converter("input", batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        source, warm = Path(tmp) / "in.wav", Path(tmp) / "warm.wav"
        write_music(warm, 3.0)
        converter.convert_file(
            warm, Path(tmp) / "warm_out.wav"
        )  # traces the graph, loads everything
        write_music(source, minutes * 60)
        before = psutil.Process().memory_info().rss / 2**20
        start = time.perf_counter()
        with RssSampler() as sampler:
            converter.convert_file(source, Path(tmp) / "out.wav")
        wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "before_mb": before,
                "peak_mb": sampler.peak_mb,
                "wall_s": wall,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure_memory(minutes: float, batch_size: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(minutes), "--batch_size", str(batch_size)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode:
        raise SystemExit(f"child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def speed(seconds: float, batch_size: int) -> None:
    from timbre import spectrogram as sp

    converters = {
        (phase, precision): default_converter(phase, batch_size, precision)
        for phase, precision in (
            ("input", "float32"),
            ("griffinlim", "float32"),
            ("input", "bfloat16"),
            ("griffinlim", "bfloat16"),
        )
    }
    first = converters["input", "float32"]
    params = first.generator.count_params()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.wav"
        write_music(source, seconds)
        padded = int(seconds * 44100) + 2 * first.plan.edge_samples  # the edges are predicted
        frames = sp.n_frames_for(padded, first.spectrogram)
        n_tiles = len(sp.tile_starts(frames, first.spectrogram.tile_frames, first.overlap))
        tiles = np.zeros((first.batch_size, 256, 256), dtype=np.float32)
        first.generate(tiles)
        start = time.perf_counter()
        first.generate(np.zeros((4 * first.batch_size, 256, 256), dtype=np.float32))
        per_tile = (time.perf_counter() - start) / (4 * first.batch_size)
        print(
            f"generator: {params / 1e6:.1f} M parameters, {per_tile * 1000:.0f} ms per 256x256 "
            "tile "
            f"(batch {batch_size}); a {seconds:.0f} s file = {n_tiles} tiles with overlap "
            f"{first.overlap}, "
            f"context {first.context}"
        )
        for (phase, precision), converter in converters.items():
            converter.convert_file(
                source, Path(tmp) / "warm.wav"
            )  # warm-up (graph tracing, caches)
            walls = []
            for _ in range(2):
                start = time.perf_counter()
                converter.convert_file(source, Path(tmp) / f"{phase}.wav")
                walls.append(time.perf_counter() - start)
            print(
                f"phase={phase:<10} precision={precision:<8} {seconds:.0f} s of 44.1 kHz audio in "
                f"{min(walls):.2f} s (best of 2) -> {seconds / min(walls):.1f}x real time"
            )


def phase_comparison(
    origin_path: str, target_path: str, iterations: tuple[int, ...] = (8, 32, 100)
) -> None:
    """Input phase vs Griffin-Lim on the target's own magnitude.

    The target's own magnitude is what a perfect generator would predict.
    """
    from timbre import spectrogram as sp
    from timbre.evaluation import metrics

    config = SpectrogramConfig()
    origin, _ = audio.load(origin_path, config.sample_rate)
    target, _ = audio.load(target_path, config.sample_rate)
    n = min(len(origin), len(target))
    origin, target = origin[:n], target[:n]
    magnitude, _ = sp.log_spectrogram(target, config)
    _, phase = sp.log_spectrogram(origin, config)
    wanted = sp.denormalise(magnitude, config) / sp.magnitude_scale(config)
    outputs = {"input phase": sp.invert_log_spectrogram(magnitude, phase, config, n)}
    for n_iter in iterations:
        start = time.perf_counter()
        outputs[f"griffinlim {n_iter} it."] = sp.griffin_lim(
            magnitude, config, n, n_iter=n_iter, init_phase=phase
        )
        print(
            f"griffin-lim {n_iter} iterations on {n / config.sample_rate:.0f} s: "
            f"{time.perf_counter() - start:.2f} s"
        )
    outputs["griffinlim 32 it., random start"] = sp.griffin_lim(magnitude, config, n, n_iter=32)
    print(
        f"phase comparison on {Path(origin_path).name} -> {Path(target_path).parent.name}, true "
        "target magnitude, "
        f"{n / config.sample_rate:.1f} s; lower is better"
    )
    for name, output in outputs.items():
        scores = metrics.score(output, target, config.sample_rate)
        print(
            f"  {name:<32} LSD {scores['lsd_db']:6.2f} dB  SC {scores['sc']:.3f}  log-mel L1 "
            f"{scores['logmel_l1_db']:5.2f} dB  consistency SC "
            f"{sp.spectral_convergence(output, wanted, config):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speed test file")
    parser.add_argument(
        "--minutes", type=float, nargs="*", default=[1.0, 10.0], help="memory test lengths"
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument(
        "--phase_pair",
        nargs=2,
        metavar=("ORIGIN", "TARGET"),
        help="compare the phase modes instead",
    )
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase_pair:
        return phase_comparison(*args.phase_pair)
    if args.child is not None:
        return child(args.child, args.batch_size)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only"
    )
    speed(args.seconds, args.batch_size)
    results = {minutes: measure_memory(minutes, args.batch_size) for minutes in args.minutes}
    for minutes, r in results.items():
        print(
            f"memory: {minutes:g} min file: peak RSS while converting {r['peak_mb']:.0f} MB "
            f"({r['before_mb']:.0f} MB before, {r['peak_mb'] - r['before_mb']:+.0f} MB; process "
            "maximum incl. "
            f"building the model {r['max_rss_mb']:.0f} MB); {minutes * 60 / r['wall_s']:.1f}x real "
            "time"
        )
    if len(results) >= 2:
        (short, a), (long, b) = sorted(results.items())[0], sorted(results.items())[-1]
        per_second = (b["peak_mb"] - a["peak_mb"]) / ((long - short) * 60)
        print(
            f"memory growth {short:g} -> {long:g} min: {b['peak_mb'] - a['peak_mb']:+.0f} MB "
            f"({per_second:+.3f} MB per second of audio)"
        )


if __name__ == "__main__":
    main()
