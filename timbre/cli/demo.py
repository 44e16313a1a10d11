"""`make demo`: the whole pipeline on the embedded default data (placeholder until issue 8 lands)."""

from __future__ import annotations

import argparse
from typing import Sequence

PLAN = """timbre demo: what it will do (not implemented yet)
  1. render a SoundFont note bank for keyboard_acoustic and string_acoustic (FluidSynth, TimGM6mb.sf2)
  2. generate a seeded MIDI corpus and synthesize paired audio
  3. compute log-magnitude tiles
  4. train a CPU-sized Pix2Pix model for --minutes minutes
  5. convert the held-out test pieces and a short melody; evaluate against the true target"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="timbre demo", description=__doc__)
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget in minutes")
    parser.add_argument("--output", default="demo", help="folder for everything the demo writes")
    parser.parse_args(argv)
    print(PLAN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
