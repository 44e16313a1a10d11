"""`make demo`: the whole pipeline on the embedded default data, keyboard -> strings.

Stages, each resumable (a second run reuses what is done and finishes quickly):

1. note banks, rendered with FluidSynth -> ``<out>/bank/``: ``string_acoustic``
   from the General MIDI SoundFont inside ``pretty_midi``; ``keyboard_acoustic``
   from the acoustic pianos of every SoundFont of the default pool
   (:mod:`timbre.data.sources`). One SoundFont's pianos (:data:`HELD_OUT`)
   are kept out of training: the evaluation plays the test pieces with them too.
2. corpus: a generated MIDI corpus -> ``<out>/audios/midi/``, rendered as
   aligned pairs -> ``<out>/audios/<instrument>/<piece>.wav``, each piece's
   keyboard part by a piano drawn from the training pool
3. features -> ``<out>/features/``
4. training: a CPU-sized model for a wall-clock budget -> ``<out>/model/``
   (``curves.png``, ``samples/``, ``generator.keras``); a finished run is
   marked with ``demo_complete.json`` and not trained again
5. conversion of the held-out test pieces and of a separate short melody ->
   ``<out>/converted/<piece>/{input,converted,target}.wav`` + ``spectrograms.png``
6. evaluation (model vs identity vs oracle) of the test pieces played by the
   training pianos and by the held-out pianos, each clean and "as recordings
   arrive" -> ``<out>/eval/{training_pianos,held_out_piano}/{clean,excerpt}/``
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import documented_parser, positive_int, run, start_tensorflow
from timbre.formats.model_dir import ModelDir
from timbre.recipes import demo
from timbre.recipes.presets import PRESETS


class PrintedReport:
    """A :class:`timbre.recipes.demo.Report` that prints each stage's header and result."""

    def __init__(self, stages: int = demo.STAGES):
        self.stages = stages  # how many there are

    def stage(self, number: int, title: str) -> None:
        print(f"\n[{number}/{self.stages}] {title}", flush=True)

    def done(self, what: str, seconds: float) -> None:
        print(f"      {what} ({seconds:.0f} s)", flush=True)


def print_summary(out: Path, result: demo.DemoResult) -> None:
    """The evaluation summary of a run into ``out``, its time, and where to look."""
    print(f"\n{result.summary}\n")
    print(f"demo finished in {result.seconds / 60:.1f} min. Look at:")
    print(
        f"  converted audio + spectrograms: {out / 'converted'}/<piece>/ "
        f"(e.g. {result.converted[-1]})"
    )
    print(f"  training curves:                {ModelDir(result.model_dir).curves}")
    print(f"  evaluation:                     {out / 'eval'}/<pieces>/<condition>/results.md")


def build_parser() -> argparse.ArgumentParser:
    parser = documented_parser("timbre demo", __doc__)
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="training budget in minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        default="demo",
        help="folder for everything the demo writes (default: %(default)s)",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cpu",
        help="'cpu': the real demo; 'tiny': a seconds-long run of every stage (tests)",
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=os.cpu_count() or 1, help="worker processes"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the corpus and the split (default: %(default)s)",
    )
    return parser


def _body(args: argparse.Namespace) -> int:
    out = Path(args.output)
    result = demo.run(
        out,
        PRESETS[args.preset],
        minutes=args.minutes,
        jobs=args.jobs,
        seed=args.seed,
        report=PrintedReport(),
        prepare_tensorflow=start_tensorflow,
    )
    print_summary(out, result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
