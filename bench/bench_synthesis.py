#!/usr/bin/env python3
"""Paired synthesis throughput: seconds of audio rendered per wall-clock second, all cores.

Renders the generated corpus (timbre.data.corpus.write_corpus) with the default four
instruments from a prepared SoundFont bank (prepared first and timed apart,
reused from --bank_cache on later runs) into a temporary folder, the same way
synthesize_audios.py does (MIDI reading, synthesis, WAV writing, manifest).

Usage: python bench/bench_synthesis.py [--minutes 10] [--jobs N] [--bank_cache DIR]
Prints the figures; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from timbre.data import corpus, notebank, render
from timbre.settings import SynthConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="length of the generated corpus"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--bank_cache", help="bank folder (default: a temporary one, rendered first)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        banks = notebank.prepare_soundfont_bank(
            args.bank_cache or Path(tmp) / "bank", notebank.DEFAULT_INSTRUMENTS, progress=False
        )
        bank_s = time.perf_counter() - start
        files = corpus.write_corpus(Path(tmp) / "midi", args.minutes, seed=0)
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        summary = render.render_pairs(
            Path(tmp) / "midi",
            Path(tmp) / "audios",
            banks,
            SynthConfig(),
            jobs=args.jobs,
            progress=False,
        )
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    n = len(banks.instruments)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.jobs} worker processes"
    )
    print(f"bank: {n} instruments from {Path(banks.path).name}, prepared in {bank_s:.1f} s")
    print(
        f"corpus: {len(files)} pieces, {summary.seconds:.0f} s of music; {n} instruments -> "
        f"{n * summary.seconds:.0f} s of audio "
        f"at {SynthConfig().sample_rate} Hz"
    )
    print(
        f"rendered in {wall:.2f} s wall (process start-up, MIDI reading, synthesis, WAV writing): "
        f"{n * summary.seconds / wall:.0f} s of audio per second ({summary.seconds / wall:.0f} s "
        "of music per second "
        f"with all {n} instruments)"
    )
    print(
        f"CPU time {cpu:.2f} s (this process and its workers): {n * summary.seconds / cpu:.0f} s "
        "of audio per CPU second; "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine lowers the wall-clock "
        "figure)"
    )


def _cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


if __name__ == "__main__":
    main()
