#!/usr/bin/env python3
r"""Training throughput and peak memory of the Pix2Pix GAN on this machine.

For each case (the default 54.4 M-parameter model in float32 and bf16, the
small CPU model), a fresh subprocess builds the GAN on 256x256 tiles, runs
``--warmup`` compiled training steps (tracing included), then times
``--steps`` steps of batch ``--batch_size`` on synthetic tensors (no disk),
through ``fit`` exactly as ``timbre.training.loop`` does. Peak memory is the
subprocess's maximum resident set size.

For scale: the original project trained the default model at 2.8 samples/s
with 5.2 GiB on this kind of machine (eager loop).

    .venv/bin/python bench/bench_train.py [--steps 6] \
        [--cases default-f32,default-bf16,small-f32,small-bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = {  # name -> (base_filters, mixed precision policy)
    "default-f32": (64, "float32"),
    "default-bf16": (64, "mixed_bfloat16"),
    "small-f32": (16, "float32"),
    "small-bf16": (16, "mixed_bfloat16"),
}


def one_case(name: str, batch_size: int, warmup: int, steps: int, jit: bool) -> dict:
    """Run one case in this process; returns its figures."""
    import resource

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    from timbre.config import ModelConfig
    from timbre.training.model import build_discriminator, build_generator
    from timbre.training.pix2pix import Pix2Pix, adam

    base_filters, policy = CASES[name]
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    config = ModelConfig(base_filters=base_filters)
    model = Pix2Pix(build_generator(config, 256, 256), build_discriminator(config, 256, 256))
    model.compile(adam(2e-4), adam(2e-4), jit_compile=jit)
    rng = np.random.default_rng(0)
    batch = tuple(
        rng.uniform(-1, 1, (batch_size, 256, 256, 1)).astype(np.float32) for _ in range(2)
    )
    data = tf.data.Dataset.from_tensors(batch).repeat()
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "case": name,
        "generator_params": model.generator.count_params(),
        "batch_size": batch_size,
        "samples_per_s": steps * batch_size / seconds,
        "step_s": seconds / steps,
        "warmup_s": warm,
        "peak_rss_gib": peak_kib / 2**20,
        "jit": jit,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES)
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed steps (the first one traces the graph)"
    )
    parser.add_argument("--steps", type=int, default=6, help="timed steps")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_case(args.one, args.batch_size, args.warmup, args.steps, args.jit)))
        return 0
    print(
        f"cpu cores: {os.cpu_count()}, batch {args.batch_size}, {args.warmup} warm-up + "
        f"{args.steps} timed steps, "
        f"synthetic 256x256 tiles{', XLA' if args.jit else ''}"
    )
    root = Path(__file__).resolve().parents[1]
    for name in args.cases.split(","):
        command = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--batch_size",
            str(args.batch_size),
            "--warmup",
            str(args.warmup),
            "--steps",
            str(args.steps),
        ] + (["--jit"] if args.jit else [])
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['case']:<13} {r['generator_params'] / 1e6:5.1f} M params  "
            f"{r['samples_per_s']:6.2f} samples/s  "
            f"({r['step_s']:.2f} s/step)  peak RSS {r['peak_rss_gib']:.2f} GiB  (warm-up "
            f"{r['warmup_s']:.0f} s)",
            flush=True,
        )
    print("original project, default model: 2.8 samples/s, 5.2 GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
