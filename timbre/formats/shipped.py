"""Models shipped inside the package: convert a recording with no training at all.

Each shipped model is a model directory
(``timbre/pretrained/<name>/``: ``config.json`` and its generator), rebuilt
from scratch by ``make pretrained`` and described in ``MODEL_CARD.md`` beside
it. :func:`resolve` turns what a user passes as ``--model`` into a model
directory: nothing (the default model), a shipped model's name, or a path.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from timbre.errors import ModelError
from timbre.formats.model_dir import CONFIG_FILE

FOLDER = Path(__file__).parents[1] / "pretrained"  # timbre/pretrained/<name>/
DEFAULT = "keyboard"  # what predict.py uses without --model
# Former names of shipped models -> their names now: keyboard_to_strings learnt guitar and synth
# lead in timbre 0.2; strings is still its default target, so the old name converts as before.
RENAMED = {"keyboard_to_strings": "keyboard"}


def available() -> dict[str, Path]:
    """The shipped models, ``name -> model directory``, sorted by name."""
    return {
        path.name: path
        for path in sorted(FOLDER.iterdir())
        if path.is_dir() and (path / CONFIG_FILE).is_file()
    }


def resolve(model: str | os.PathLike | None) -> Path:
    """The model directory (or model file) that ``model`` names.

    Args:
        model: ``None`` for the default shipped model, a shipped model's name (or a former
            name, :data:`RENAMED`), or a path to a model directory or a generator file
            (returned as given).

    Raises:
        ModelError: no such path and no shipped model of that name (lists the names).
    """
    shipped = available()
    if model is None:
        if DEFAULT not in shipped:
            raise ModelError(
                f"no model given and the default model {DEFAULT!r} is not installed in {FOLDER} "
                "(run `make pretrained`, or pass --model with a model directory)"
            )
        return shipped[DEFAULT]
    if Path(model).exists() or os.sep in str(model) or str(model).startswith("."):
        return Path(model)
    name = RENAMED.get(str(model), str(model))
    if name in shipped:
        return shipped[name]
    close = difflib.get_close_matches(str(model), list(shipped), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    names = ", ".join(shipped) or "none"
    raise ModelError(
        f"--model {model}: no such model directory, and no shipped model of that name "
        f"(shipped: {names}){hint}"
    )
