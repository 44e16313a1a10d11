#!/usr/bin/env python3
"""The browser page converting a 30 s recording in headless Chromium, as a user waits for it.

Usage: python bench/bench_web.py [--seconds 30] [--repeats 3] [--model NAME]
                                 [--screenshot docs/web_page.png]

Builds the site (``make web`` must have installed onnxruntime-web), serves it on localhost,
opens it in the system Chromium and converts a ``--seconds`` 44.1 kHz WAV of harmonic notes
``--repeats`` times in the same page: the first run includes creating the ONNX Runtime Web
session (loading the model), later ones find it loaded. For each run it prints what the page
measured (from picking Convert to the result: decoding, the conversion in the worker, the
spectrograms) and the wall time the driver saw, up to the download being ready; then the
relative RMS difference between the page's result and ``Converter.convert_file`` on the same
file and model (the budget is 1e-3), and the Python converter's own time for comparison.
With ``--screenshot`` it saves the page after the last conversion, in 64 colours (the
README's picture, ``docs/web_page.png``).
Asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_predict import relative_rms, write_music  # noqa: E402

from timbre.convert.converter import load_converter  # noqa: E402
from timbre.io import audio  # noqa: E402
from timbre.web import browser, server, site  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="a shipped model's name (default: first)")
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"CPU only; load average {os.getloadavg()[0]:.1f}; browser {browser.find_chromium()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "music.wav"
        write_music(source, args.seconds)
        httpd = server.make_server(site.build_site(tmp / "site"), port=0)
        server.serve_in_background(httpd)
        runs, walls = [], []
        with browser.Page(server.url(httpd)) as page:
            for i in range(args.repeats):
                last = i == args.repeats - 1
                started = time.perf_counter()
                run = page.convert(
                    source, tmp, model=args.model, screenshot=args.screenshot if last else None
                )
                walls.append(time.perf_counter() - started)
                runs.append(run)
                t = run.timing
                print(
                    f"run {i + 1} ({'cold: loads the model' if i == 0 else 'warm'}): "
                    f"{t['total']:.2f} s in the page for {t['seconds']:.1f} s of audio "
                    f"(decode {t['decode']:.2f} s, model {t['loadSeconds']:.2f} s, conversion "
                    f"{t['convertSeconds']:.2f} s, {t['tiles']} tiles, {t['threads']} threads); "
                    f"{walls[-1]:.2f} s as the driver saw it"
                )
        httpd.shutdown()
        print(
            f"page: median {statistics.median(r.timing['total'] for r in runs):.2f} s; "
            f"requests off localhost: {len(runs[-1].elsewhere)}"
        )
        converter = load_converter(args.model)
        started = time.perf_counter()
        converter.convert_file(source, tmp / "python.wav")
        python_s = time.perf_counter() - started
        got, expected = (audio.load(p, None)[0] for p in (runs[-1].output, tmp / "python.wav"))
        error = relative_rms(got, expected)
        print(
            f"python converter (ONNX Runtime, warm process, model loaded): {python_s:.2f} s; "
            f"page vs python: relative RMS {error:.2e} (budget 1e-3)"
        )
        if args.screenshot:
            from PIL import Image  # matplotlib's dependency: 64 colours keep the PNG small

            Image.open(args.screenshot).convert("RGB").quantize(64).save(
                args.screenshot, optimize=True
            )
            print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
