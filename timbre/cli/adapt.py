"""`timbre adapt`: a model fine-tuned on your own recordings, with no MIDI and no pairs.

    timbre adapt --origin my_piano/                  # make my piano work
    timbre adapt --target my_cello/ --name cello     # make it sound like my cello

The recordings (any format, rate and length; sub-folders too) are transcribed with
basic-pitch's model on ONNX Runtime (the `[transcribe]` extra), cut into 30 s pieces,
and their notes rendered by the other side: the model's targets for recordings of
the origin, the pool's pianos for recordings of a new target. A fifth of the
recordings (by file, seeded; at least one) are held out to score the model before and
after, one more for validation. Training starts from --model's weights (the shipped
model by default); for --origin, generated music the model learnt from is mixed in so
it does not forget. At least 5 minutes of music with notes must remain to train on;
about 30 minutes is what adaptation is measured with.

Stages, each resumable (a second run reuses what is done) in --output:
audios/ (pairs), features/, model/ (the adapted model: predict.py --model
<output>/model), eval/ (before and after), before_after.png and report.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import (
    add_jobs,
    add_model_flag,
    add_seed,
    documented_parser,
    fail,
    positive_float,
    run,
    start_tensorflow,
)
from timbre.cli.demo import PrintedReport
from timbre.data.own import OwnPairsConfig
from timbre.evaluate.config import CONDITIONS
from timbre.formats import shipped
from timbre.io.atomic import run_lock
from timbre.recipes import adapt


def build_parser() -> argparse.ArgumentParser:
    parser = documented_parser("timbre adapt", __doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--origin", type=Path, help="a folder of recordings of the model's origin (your piano)"
    )
    which.add_argument(
        "--target", type=Path, help="a folder of recordings of a new target (your cello)"
    )
    parser.add_argument(
        "--name", help="with --target: the new target's name (lowercase: cello, my-cello)"
    )
    add_model_flag(parser, required=False)
    parser.add_argument(
        "--output", type=Path, help="working folder and the result (default: adapted_<name>)"
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=adapt.AdaptConfig.minutes,
        help="training budget in minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--condition",
        choices=CONDITIONS,
        default=adapt.AdaptConfig.condition,
        help="how the held-out recordings reach the model when scored (default: %(default)s, "
        "as they are)",
    )
    add_jobs(parser)
    add_seed(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _body(args: argparse.Namespace) -> int:
    if args.target is not None and not args.name:
        return fail(f"--target {args.target}: needs --name (the new target's name: cello)")
    if args.origin is not None and args.name:
        return fail(f"--name {args.name}: goes with --target (--origin adapts the origin)")
    recordings = args.origin or args.target
    base = shipped.resolve(args.model)
    base = base.parent if base.is_file() else base
    out = args.output or Path(f"adapted_{args.name or recordings.resolve().name}")
    config = adapt.AdaptConfig(
        minutes=args.minutes,
        condition=args.condition,
        pairs=OwnPairsConfig(seed=args.seed),
    )
    adapt.check(recordings, out, base, args.name)  # before the lock makes the folder
    with run_lock(out, "timbre adapt"):
        report = adapt.adapt(
            recordings,
            out,
            base,
            config,
            instrument=args.name,
            jobs=args.jobs,
            report=PrintedReport(adapt.STAGES),
            prepare_tensorflow=start_tensorflow,
            progress=not args.quiet,
        )
    print(f"\n{report.read_text()}")
    print(f"the adapted model: {out / 'model'} (predict.py --model {out / 'model'})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
