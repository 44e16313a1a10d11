"""Instrument names: NSynth's ``<family>_<source>`` and the short names a musician types.

Models record their instruments by NSynth name (``string_acoustic``,
``guitar_acoustic``, ``synth_lead_synthetic``). Wherever a target is chosen
(``predict.py --target``, ``evaluate.py --target``, the Python API) the short
name works too: the family (``guitar``, ``flute``, ``synth_lead``) or a common
word for it (``strings``, ``lead``, ``piano``, ``choir``). A short name means
the model's one target of that family; where a model has two of a family
(``guitar_acoustic`` and ``guitar_electronic``) only the full name chooses.
"""

from __future__ import annotations

from collections.abc import Sequence

from timbre.errors import ConfigError

ALIASES = {  # a word a musician types -> NSynth family
    "strings": "string",
    "lead": "synth_lead",
    "synth": "synth_lead",
    "piano": "keyboard",
    "choir": "vocal",
    "voice": "vocal",
}
SHORT = {"string": "strings"}  # NSynth family -> the short name shown, where it differs


def family(name: str) -> str:
    """NSynth family of ``name``: ``synth_lead_synthetic`` -> ``synth_lead``."""
    return name.rsplit("_", 1)[0] if "_" in name else name


def short_name(name: str) -> str:
    """What a musician calls the instrument ``name``: ``string_acoustic`` -> ``strings``."""
    return SHORT.get(family(name), family(name))


def label(name: str) -> str:
    """``name`` as lists show it: ``strings (string_acoustic)``; a name that is its own short
    name alone."""
    short = short_name(name)
    return name if short == name else f"{short} ({name})"


def resolve(name: str, known: Sequence[str], where: str) -> str:
    """The one instrument of ``known`` that ``name`` (full or short) means.

    Args:
        name: a name of ``known``, or a short name (module docstring).
        known: the model's instruments (NSynth names).
        where: what holds them, for the message (a model directory).

    Raises:
        ConfigError: no instrument of ``known`` is meant, or several are (names them all).
    """
    if name in known:
        return name
    wanted = ALIASES.get(name.lower(), name.lower())
    matches = [k for k in known if family(k) == wanted]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(label(k) for k in known)
    if matches:
        raise ConfigError(
            f"target={name!r}: {where} has several of that family ({', '.join(matches)}): "
            "give the full name"
        )
    raise ConfigError(f"target={name!r}: {where} converts to {listed} (expected one of them)")
