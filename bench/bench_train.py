#!/usr/bin/env python3
r"""Training throughput, its run-to-run spread, and how busy the cores are.

For each case (the default 54.4 M-parameter model in float32 and bf16, the
small CPU model, and the demo's generator-only L1 training of it),
``--repeats`` fresh subprocesses each build the GAN (or the generator) on
256x256 tiles, run ``--warmup`` compiled training steps (tracing included),
then time ``--steps`` steps of batch ``--batch_size`` on synthetic tensors (no
disk), through ``fit`` exactly as ``timbre.tf.fit`` does. Per run it
records:

- samples/s over the timed steps;
- cores busy: the process's CPU time (user + system) per wall second (2.0: both
  cores of a 2-core machine worked the whole time);
- waiting: the time its threads were ready to run but had no core, per wall
  second (from ``/proc/<pid>/task/*/schedstat``): how much other processes took;
- others: the CPU time of every other process on the machine per wall second
  (from ``/proc/stat``);
- demand: cores busy + waiting, the average number of its threads that had work:
  below the core count, the step itself left cores idle, whatever the machine's load;
- peak memory (the subprocess's maximum resident set size).

Each case prints its runs, the median and the spread ((max - min) / median of
samples/s). ``--intra`` / ``--inter`` set TensorFlow's thread pools (0: its
default), ``--onednn off`` sets ``TF_ENABLE_ONEDNN_OPTS=0``, ``--autotune off``
turns tf.data's autotuning off for the input pipeline, so the causes of a
spread can be told apart. On a machine shared with other work, compare runs by
cores busy and waiting, not by samples/s alone.

Found with it (2 cores, nothing else running): with tf.data's autotuning on (its
default, and the training pipeline's until it was turned off), about half of the
``fit`` calls ran the step on one core (cores busy 1.0-1.2, 25.1 samples/s for
the demo model in float32, against 43-48 on two cores), decided afresh by every
``fit`` call, even within one process; the same compiled step called directly was
always on two cores. With ``--autotune off`` (the default, as training now runs)
every run used both cores.

For scale: the original project trained the default model at 2.8 samples/s
with 5.2 GiB on this kind of machine (eager loop).

    .venv/bin/python bench/bench_train.py [--steps 6] [--repeats 3] \
        [--cases default-f32,default-bf16,small-f32,small-bf16,small-bf16-l1] [--intra N] \
        [--inter N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {  # name -> (base_filters, mixed precision policy, with the discriminator)
    "default-f32": (64, "float32", True),
    "default-bf16": (64, "mixed_bfloat16", True),
    "small-f32": (16, "float32", True),
    "small-bf16": (16, "mixed_bfloat16", True),
    "small-bf16-l1": (16, "mixed_bfloat16", False),  # the demo's: generator alone, L1
}


def _own_times() -> tuple[float, float]:
    """(CPU seconds run, seconds waiting for a core) of all this process's threads."""
    run = wait = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                ran, waited, _ = f.read().split()
        except (OSError, ValueError):  # a thread that ended meanwhile
            continue
        run, wait = run + int(ran), wait + int(waited)
    return run / 1e9, wait / 1e9


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def one_case(
    name: str, batch_size: int, warmup: int, steps: int, jit: bool, threads, autotune: bool
) -> dict:
    """Run one case in this process; returns its figures."""
    import resource

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    intra, inter = threads
    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    from timbre.settings import ModelConfig
    from timbre.tf.networks import build_discriminator, build_generator
    from timbre.tf.pairs import STEADY
    from timbre.tf.pix2pix import Pix2Pix, adam

    base_filters, policy, gan = CASES[name]
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    config = ModelConfig(base_filters=base_filters)
    discriminator = build_discriminator(config, 256, 256) if gan else None
    model = Pix2Pix(build_generator(config, 256, 256), discriminator)
    model.compile(adam(2e-4), adam(2e-4) if gan else None, jit_compile=jit)
    rng = np.random.default_rng(0)
    batch = tuple(
        rng.uniform(-1, 1, (batch_size, 256, 256, 1)).astype(np.float32) for _ in range(2)
    )
    data = tf.data.Dataset.from_tensors(batch).repeat()
    if not autotune:
        data = data.with_options(STEADY)  # the training pipeline's options
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    warm = time.perf_counter() - started
    own, machine = _own_times(), _busy_seconds()
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    ran, waited = (b - a for a, b in zip(own, _own_times()))
    others = max(0.0, _busy_seconds() - machine - ran)
    return {
        "case": name,
        "generator_params": model.generator.count_params(),
        "samples_per_s": steps * batch_size / seconds,
        "step_s": seconds / steps,
        "warmup_s": warm,
        "cores_busy": ran / seconds,
        "waiting": waited / seconds,
        "others": others / seconds,
        "threads": len(os.listdir("/proc/self/task")),
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def run_case(name: str, args: argparse.Namespace) -> dict | None:
    """One case in a fresh subprocess; its figures, or None (failure printed)."""
    command = [sys.executable, __file__, "--one", name, "--batch_size", str(args.batch_size)]
    command += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    command += ["--intra", str(args.intra), "--inter", str(args.inter)]
    command += ["--autotune", args.autotune]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if args.onednn == "off":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    done = subprocess.run(
        command + (["--jit"] if args.jit else []),
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )
    if done.returncode != 0:
        print(f"{name}: failed\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"{(max(values) - min(values)) / statistics.median(values):.1%}"


def report(name: str, runs: list[dict]) -> None:
    rates = [r["samples_per_s"] for r in runs]
    per_cpu = [r["samples_per_s"] / r["cores_busy"] for r in runs]
    for r in runs:
        print(
            f"  {r['samples_per_s']:6.2f} samples/s ({r['step_s']:.2f} s/step, "
            f"{r['samples_per_s'] / r['cores_busy']:5.2f} per CPU-second); cores busy "
            f"{r['cores_busy']:.2f}, waiting {r['waiting']:.2f} (demand "
            f"{r['cores_busy'] + r['waiting']:.2f}), others {r['others']:.2f}; "
            f"{r['threads']} threads (intra {r['intra']}, inter {r['inter']}); peak RSS "
            f"{r['peak_rss_gib']:.2f} GiB; warm-up {r['warmup_s']:.0f} s"
        )
    quiet = [r for r in runs if r["others"] < 0.2]  # runs the rest of the machine left alone
    alone = (
        f"; alone (others < 0.2): {statistics.median(r['samples_per_s'] for r in quiet):.2f} "
        f"samples/s, cores busy {statistics.median(r['cores_busy'] for r in quiet):.2f}, "
        f"spread {_spread([r['samples_per_s'] for r in quiet])} over {len(quiet)}"
        if quiet
        else "; no run had the machine to itself"
    )
    print(
        f"{name:<13} {runs[0]['generator_params'] / 1e6:5.1f} M params, {len(runs)} runs: "
        f"median {statistics.median(rates):6.2f} samples/s (spread {_spread(rates)}), "
        f"{statistics.median(per_cpu):5.2f} per CPU-second (spread {_spread(per_cpu)}){alone}",
        flush=True,
    )


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
    parser.add_argument("--repeats", type=int, default=3, help="runs (processes) per case")
    parser.add_argument("--intra", type=int, default=0, help="intra-op threads (0: TF default)")
    parser.add_argument("--inter", type=int, default=0, help="inter-op threads (0: TF default)")
    parser.add_argument("--onednn", choices=("on", "off"), default="on", help="oneDNN kernels")
    parser.add_argument(
        "--autotune",
        choices=("on", "off"),
        default="off",
        help="tf.data autotuning of the input pipeline (off: as training runs, "
        "timbre.tf.pairs.STEADY; on: tf.data's default)",
    )
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        threads = (args.intra, args.inter)
        autotune = args.autotune == "on"
        result = one_case(
            args.one, args.batch_size, args.warmup, args.steps, args.jit, threads, autotune
        )
        print(json.dumps(result))
        return 0
    print(
        f"cpu cores: {os.cpu_count()}, batch {args.batch_size}, {args.warmup} warm-up + "
        f"{args.steps} timed steps, {args.repeats} runs per case, synthetic 256x256 tiles, "
        f"threads intra {args.intra or 'default'} inter {args.inter or 'default'}, oneDNN "
        f"{args.onednn}, tf.data autotune {args.autotune}{', XLA' if args.jit else ''}; load "
        f"average {os.getloadavg()[0]:.1f}"
    )
    for name in args.cases.split(","):
        runs = [r for r in (run_case(name, args) for _ in range(args.repeats)) if r]
        if runs:
            report(name, runs)
    print("original project, default model: 2.8 samples/s, 5.2 GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
