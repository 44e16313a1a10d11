#!/usr/bin/env python3
"""Conversion as a user waits for it: whole predict.py runs, conversion alone, memory.

Usage: python bench/bench_predict.py [--models DIR] [--repeats 3] [--seconds 60]
                                     [--minutes 1 10] [--batch_size 8] [--skip ...]

0. ``shipped``: what a new user runs first, ``predict.py --input x.wav --output y.wav``
   with no ``--model`` (the shipped model on its default runtime, ONNX Runtime) on a 30 s
   44.1 kHz file, whole process, median of 5; then every other shipped model and target
   (``--model NAME --target SHORT``) the same way; then the Keras path (the shipped model's
   folder copied without ``generator.onnx``), and the relative RMS difference of the two
   outputs against the budget of 1e-3. Whether the default process imported TensorFlow is
   printed too.
1. ``process``: the whole ``predict.py`` process (interpreter start, imports, loading the
   model, reading, converting and writing) on a 1 s and a 60 s 44.1 kHz file, for the
   demo-sized generator (``ModelConfig(base_filters=16, dropout=0.0)``, 3.4 M parameters)
   and the default one (54.4 M), both with random weights, on both runtimes: ONNX Runtime
   (the model directory has ``generator.onnx``) and Keras (the same directory without it).
   Each run is a fresh process; it prints the median and best wall time, the CPU time
   (user + system) and the peak RSS of the process, and the load average, so that runs on
   a shared machine can be compared (CPU time barely moves with other load; wall time does).
2. ``conversion``: ``Converter.convert_file`` alone in a warm process (model loaded, first
   call done): real-time factor for input phase and Griffin-Lim, float32 on both runtimes
   and bfloat16 (Keras).
3. ``memory``: peak RSS while converting a 1-minute and a 10-minute file (fresh
   subprocesses, the default runtime).

The model directories are written to ``--models`` (reused when there: writing the 54 M
model's ONNX copy takes about a minute) or a temporary folder. With ``--phase_pair ORIGIN
TARGET`` (two aligned recordings of one piece, e.g.
``<audios>/keyboard_acoustic/piece_0000.wav`` and ``<audios>/string_acoustic/piece_0000.wav``)
it instead compares the two phase modes on the true target magnitude (a perfect
generator), so only the phase step differs. Asserts nothing (timings belong here, not in
tests).
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

from timbre.io import audio  # noqa: E402
from timbre.settings import ModelConfig, SpectrogramConfig  # noqa: E402

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


def relative_rms(a: np.ndarray, b: np.ndarray) -> float:
    """``rms(a - b) / rms(b)``: how far a conversion is from the one it should equal."""
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


MODELS = {  # name -> architecture (random weights: timing does not depend on them)
    "demo": ModelConfig(base_filters=16, dropout=0.0),  # the demo's size, 3.4 M parameters
    "default": ModelConfig(),  # 54.4 M parameters
}
BACKENDS = ("onnx", "keras")
CONVERSION_CASES = (("onnx", "float32"), ("keras", "float32"), ("keras", "bfloat16"))
SECTIONS = ("shipped", "process", "conversion", "memory")
SHIPPED_SECONDS, SHIPPED_REPEATS, SHIPPED_BUDGET = 30.0, 5, 1e-3


def prepare_models(folder: Path) -> dict[tuple[str, str], Path]:
    """``{(model, backend): model directory}``: ``<folder>/<model>/onnx`` holds config.json,
    generator.keras and generator.onnx; ``<folder>/<model>/keras`` the same without the ONNX
    copy (a hard link to the same generator.keras), as a model trained before it existed.
    """
    import keras

    from timbre.formats.model_dir import ModelDir
    from timbre.tf.export import add_generator_onnx
    from timbre.tf.networks import build_generator

    dirs = {}
    for name, model in MODELS.items():
        files = {backend: ModelDir(folder / name / backend) for backend in BACKENDS}
        if not files["onnx"].generator_onnx.exists():
            keras.utils.set_random_seed(0)
            config = SpectrogramConfig()
            generator = build_generator(model, config.n_bins, config.tile_frames)
            files["onnx"].path.mkdir(parents=True, exist_ok=True)
            files["onnx"].write_config(
                {"version": 1, "spectrogram": config.to_dict(), "model": model.to_dict()}
            )
            generator.save(files["onnx"].generator)
            started = time.perf_counter()
            add_generator_onnx(files["onnx"].path)
            print(f"{name}: wrote generator.onnx in {time.perf_counter() - started:.0f} s")
        if not files["keras"].generator.exists():
            files["keras"].path.mkdir(parents=True, exist_ok=True)
            files["keras"].write_config(files["onnx"].read_config())
            os.link(files["onnx"].generator, files["keras"].generator)
        dirs.update({(name, backend): files[backend].path for backend in BACKENDS})
    return dirs


def run_predict(
    model_dir: Path | None, source: Path, output: Path, *extra: str, flags: tuple[str, ...] = ()
) -> dict:
    """One ``predict.py`` process (``model_dir=None``: no ``--model``, the shipped default;
    ``extra``: the interpreter's options, ``flags``: predict.py's): wall time, CPU time
    (user + system) and peak RSS."""
    command = [sys.executable, *extra, str(ROOT / "predict.py")]
    command += ["--model", str(model_dir)] if model_dir is not None else []
    command += ["--input", str(source), "--output", str(output), "--force", *flags]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode(errors="replace")  # until the process closes it
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"predict.py failed:\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "stderr": stderr,
    }


def _summary(runs: list[dict]) -> str:
    walls = sorted(r["wall_s"] for r in runs)
    return (
        f"wall {np.median(walls):5.2f} s (best {walls[0]:5.2f}), CPU "
        f"{np.median([r['cpu_s'] for r in runs]):5.2f} s, peak RSS "
        f"{max(r['rss_mb'] for r in runs):5.0f} MB"
    )


def shipped_default() -> None:
    """Section 0: the shipped model as a new user first runs it, against its Keras path."""
    import shutil

    from timbre.formats import instruments, shipped
    from timbre.formats.model_dir import ModelDir, read_model_info

    print(
        f"\nshipped model, predict.py --input x.wav --output y.wav ({SHIPPED_SECONDS:.0f} s "
        f"file, whole process, median and best of {SHIPPED_REPEATS}):"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source, keras_dir = Path(tmp) / "x.wav", Path(tmp) / "keras_only"
        write_music(source, SHIPPED_SECONDS)
        keras_dir.mkdir()
        for name in ("config.json", "generator.keras"):
            shutil.copy2(ModelDir(shipped.resolve(None)).path / name, keras_dir / name)
        outputs = {"default": Path(tmp) / "default.wav", "keras": Path(tmp) / "keras.wav"}
        runs = [run_predict(None, source, outputs["default"]) for _ in range(SHIPPED_REPEATS)]
        traced = run_predict(None, source, outputs["default"], "-X", "importtime")
        imported = "tensorflow" in {
            line.split("|")[-1].strip().split(".")[0] for line in traced["stderr"].splitlines()
        }
        print(
            f"  default (no --model, ONNX Runtime): {_summary(runs)}; imports TensorFlow: "
            f"{'yes' if imported else 'no'}",
            flush=True,
        )
        for name, folder in shipped.available().items():  # every other shipped target
            info = read_model_info(folder)
            for target in info.targets or (info.target,):
                if name == shipped.DEFAULT and target == info.condition()[0]:
                    continue  # the default, timed above
                short = instruments.short_name(target)
                flags = ("--model", name, "--target", short)
                runs = [
                    run_predict(None, source, Path(tmp) / f"{short}.wav", flags=flags)
                    for _ in range(SHIPPED_REPEATS)
                ]
                print(f"  --model {name} --target {short}: {_summary(runs)}", flush=True)
        runs = [run_predict(keras_dir, source, outputs["keras"]) for _ in range(SHIPPED_REPEATS)]
        print(f"  Keras path (no generator.onnx):    {_summary(runs)}", flush=True)
        fast, slow = (audio.load(path)[0] for path in outputs.values())
        difference = relative_rms(fast, slow)
        verdict = "within" if difference <= SHIPPED_BUDGET else "OVER"
        print(
            f"  relative RMS difference of the outputs: {difference:.1e} ({verdict} the budget "
            f"of {SHIPPED_BUDGET:g})"
        )


def whole_process(models: dict[tuple[str, str], Path], repeats: int) -> None:
    """Section 1: predict.py on 1 s and 60 s files, every model and runtime, fresh processes."""
    print(f"\npredict.py, whole process (median and best of {repeats}; CPU = user + system):")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {seconds: Path(tmp) / f"in_{seconds}s.wav" for seconds in (1, 60)}
        for seconds, path in inputs.items():
            write_music(path, seconds)
        for (name, backend), model_dir in models.items():
            for seconds, source in inputs.items():
                runs = [
                    run_predict(model_dir, source, Path(tmp) / "out.wav") for _ in range(repeats)
                ]
                walls = sorted(r["wall_s"] for r in runs)
                cpu = float(np.median([r["cpu_s"] for r in runs]))
                print(
                    f"  {name:<8} {backend:<6} {seconds:>2} s file: wall {np.median(walls):5.2f} s "
                    f"(best {walls[0]:5.2f}), CPU {cpu:5.2f} s, peak RSS "
                    f"{max(r['rss_mb'] for r in runs):5.0f} MB; load average "
                    f"{os.getloadavg()[0]:.1f}",
                    flush=True,
                )


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


def child(model_dir: str, minutes: float, batch_size: int) -> None:
    """Subprocess: convert a file of ``minutes``; print RSS before and the peak during, as JSON."""
    import psutil

    from timbre.convert.converter import load_converter

    converter = load_converter(model_dir, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        source, warm = Path(tmp) / "in.wav", Path(tmp) / "warm.wav"
        write_music(warm, 3.0)
        converter.convert_file(warm, Path(tmp) / "warm_out.wav")  # loads and warms everything
        write_music(source, minutes * 60)
        before = psutil.Process().memory_info().rss / 2**20
        start = time.perf_counter()
        with RssSampler() as sampler:
            converter.convert_file(source, Path(tmp) / "out.wav")
        wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "backend": converter.backend,
                "before_mb": before,
                "peak_mb": sampler.peak_mb,
                "wall_s": wall,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure_memory(model_dir: Path, minutes: float, batch_size: int) -> dict:
    command = [sys.executable, __file__, "--child", str(model_dir), str(minutes)]
    result = subprocess.run(
        command + ["--batch_size", str(batch_size)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode:
        raise SystemExit(f"child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory(model_dir: Path, minutes: list[float], batch_size: int) -> None:
    """Section 3: peak RSS converting files of each length (fresh processes)."""
    results = {m: measure_memory(model_dir, m, batch_size) for m in minutes}
    for m, r in results.items():
        print(
            f"memory ({r['backend']}): {m:g} min file: peak RSS while converting "
            f"{r['peak_mb']:.0f} MB ({r['before_mb']:.0f} MB before, "
            f"{r['peak_mb'] - r['before_mb']:+.0f} MB; process maximum incl. loading "
            f"{r['max_rss_mb']:.0f} MB); {m * 60 / r['wall_s']:.1f}x real time"
        )
    if len(results) >= 2:
        (short, a), (long, b) = sorted(results.items())[0], sorted(results.items())[-1]
        per_second = (b["peak_mb"] - a["peak_mb"]) / ((long - short) * 60)
        print(
            f"memory growth {short:g} -> {long:g} min: {b['peak_mb'] - a['peak_mb']:+.0f} MB "
            f"({per_second:+.3f} MB per second of audio)"
        )


def speed(models: dict[tuple[str, str], Path], name: str, seconds: float, batch_size: int):
    """Section 2: ``convert_file`` alone, warm, on each runtime and precision."""
    from timbre.convert.converter import load_converter
    from timbre.dsp import stft as sp
    from timbre.dsp import tiling

    model_dir = models[name, "onnx"]
    cases = [(b, p, ph) for ph in ("input", "griffinlim") for b, p in CONVERSION_CASES]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.wav"
        write_music(source, seconds)
        for backend, precision, phase in cases:
            converter = load_converter(
                model_dir, backend=backend, precision=precision, phase=phase, batch_size=batch_size
            )
            padded = int(seconds * 44100) + 2 * converter.plan.edge_samples  # edges predicted
            frames = sp.n_frames_for(padded, converter.spectrogram)
            n_tiles = len(tiling.tile_starts(frames, 256, converter.overlap))
            converter.convert_file(source, Path(tmp) / "warm.wav")  # warm-up (tracing, caches)
            walls, cpus = [], []
            for _ in range(2):
                start, cpu = time.perf_counter(), time.process_time()
                converter.convert_file(source, Path(tmp) / "out.wav")
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
            print(
                f"  {name:<8} {backend:<6} {precision:<8} phase={phase:<10} {seconds:.0f} s "
                f"({n_tiles} tiles) in {min(walls):.2f} s (best of 2, CPU {min(cpus):.2f} s) -> "
                f"{seconds / min(walls):.1f}x real time",
                flush=True,
            )


def phase_comparison(
    origin_path: str, target_path: str, iterations: tuple[int, ...] = (8, 32, 100)
) -> None:
    """Input phase vs Griffin-Lim on the target's own magnitude.

    The target's own magnitude is what a perfect generator would predict.
    """
    from timbre.dsp import stft as sp
    from timbre.dsp.phase import griffin_lim
    from timbre.evaluate import metrics

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
        outputs[f"griffinlim {n_iter} it."] = griffin_lim(
            magnitude, config, n, n_iter=n_iter, init_phase=phase
        )
        print(
            f"griffin-lim {n_iter} iterations on {n / config.sample_rate:.0f} s: "
            f"{time.perf_counter() - start:.2f} s"
        )
    outputs["griffinlim 32 it., random start"] = griffin_lim(magnitude, config, n, n_iter=32)
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
            f"{sp.magnitude_error(output, wanted, config):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--models", type=Path, help="folder for the model directories (reused)")
    parser.add_argument("--repeats", type=int, default=3, help="predict.py runs per case")
    parser.add_argument("--seconds", type=float, default=60.0, help="conversion test length")
    parser.add_argument(
        "--minutes", type=float, nargs="*", default=[1.0, 10.0], help="memory test lengths"
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out"
    )
    parser.add_argument(
        "--phase_pair",
        nargs=2,
        metavar=("ORIGIN", "TARGET"),
        help="compare the phase modes instead",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase_pair:
        return phase_comparison(*args.phase_pair)
    if args.child is not None:
        return child(args.child[0], float(args.child[1]), args.batch_size)
    if args.prepare is not None:
        models = prepare_models(args.prepare)
        return print(json.dumps({"/".join(key): str(path) for key, path in models.items()}))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU "
        f"only; load average {os.getloadavg()[0]:.1f}"
    )
    if "shipped" not in args.skip:
        shipped_default()
    if not set(SECTIONS[1:]) - set(args.skip):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        # In a subprocess, so that this process stays small: a child's peak RSS (ru_maxrss)
        # starts from its parent's at the fork.
        done = subprocess.run(
            [sys.executable, __file__, "--prepare", str(args.models or tmp)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        lines = done.stdout.strip().splitlines()
        print("\n".join(lines[:-1]))
        models = {tuple(k.split("/")): Path(v) for k, v in json.loads(lines[-1]).items()}
        if "process" not in args.skip:
            whole_process(models, args.repeats)
        if "memory" not in args.skip:
            print()
            memory(models["default", "onnx"], args.minutes, args.batch_size)
        if "conversion" not in args.skip:
            print("\nconvert_file alone, warm (model loaded, first call done):")
            for name in MODELS:
                speed(models, name, args.seconds, args.batch_size)


if __name__ == "__main__":
    main()
