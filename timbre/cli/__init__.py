"""Command-line interface: one module per script, the only code that prints or exits.

``timbre <command> [options]`` dispatches to the same ``main`` functions the
top-level scripts call (``synthesize_audios.py`` is ``timbre synthesize``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from timbre import __version__
from timbre.cli import common

COMMANDS = {  # command -> (module under timbre.cli, one-line help)
    "synthesize": ("synthesize", "render paired audio from MIDI with two or more instruments"),
    "features": ("features", "compute normalised log-magnitude tiles from paired audio"),
    "train": ("train", "train the Pix2Pix GAN on an instrument pair"),
    "train-generator": ("train_generator", "train the generator alone with an L1 loss"),
    "predict": ("predict", "convert recordings to the target instrument"),
    "evaluate": ("evaluate", "score conversions against the true target"),
    "export": ("export", "a model as a converter for deployment, or its ONNX generator"),
    "models": ("models", "list the models shipped with timbre (predict.py's default)"),
    "web": ("web", "build the browser page and serve it on localhost (convert in the browser)"),
    "adapt": ("adapt", "fine-tune a model on your own recordings (your piano, your cello)"),
    "demo": ("demo", "the whole pipeline on the embedded default data (what make demo runs)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """``timbre <command> ...``: run one command's ``main`` with the remaining arguments.

    ``timbre``, ``timbre --help``: the commands, on stdout (status 0 for --help,
    2 without a command); ``timbre --version``; ``timbre <command> --help`` shows
    ``timbre <command>`` as the program name.
    """
    process, argv = argv is None, list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        print(f"timbre {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
        usage = (
            "usage: timbre <command> [options]   (timbre <command> --help for its options)\n"
            "       timbre --version\n\ncommands:\n" + "\n".join(lines)
        )
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(usage, file=sys.stdout if asked else sys.stderr)
        if argv and not asked:
            print(f"error: unknown command {argv[0]!r}", file=sys.stderr)
        return 0 if asked else 2
    module = importlib.import_module(f"timbre.cli.{COMMANDS[argv[0]][0]}")
    common.INVOKED_AS = f"timbre {argv[0]}"
    try:
        return module.main(argv[1:])
    finally:  # a later command in the same process names itself again
        common.INVOKED_AS = None
        if process:
            common.ignore_late_interrupts()
