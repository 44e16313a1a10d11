"""Command-line interface: one module per script, the only code that prints or exits.

``timbre <command> [options]`` dispatches to the same ``main`` functions the
top-level scripts call (``synthesize_audios.py`` is ``timbre synthesize``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {  # command -> (module under timbre.cli, one-line help)
    "synthesize": ("synthesize", "render paired audio from MIDI with two or more instruments"),
    "features": ("features", "compute normalised log-magnitude tiles from paired audio"),
    "train": ("train", "train the Pix2Pix GAN on an instrument pair"),
    "train-generator": ("train_generator", "train the generator alone with an L1 loss"),
    "predict": ("predict", "convert recordings to the target instrument"),
    "evaluate": ("evaluate", "score conversions against the true target"),
    "demo": ("demo", "the whole pipeline on the embedded default data (what make demo runs)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """``timbre <command> ...``: run one command's ``main`` with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
        print(
            "usage: timbre <command> [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr
        )
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"timbre.cli.{COMMANDS[argv[0]][0]}")
    return module.main(argv[1:])
