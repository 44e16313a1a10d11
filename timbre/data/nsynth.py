"""The NSynth json/wav layout of a note bank, in one place (read and written).

A note bank folder, as the NSynth json/wav release ships it and as
:mod:`timbre.data.soundfont_render` writes it::

    examples.json             {note_str: {"pitch", "velocity", "sample_rate", "instrument_str",
                               "instrument_family_str", "instrument_source_str", ...}}
    audio/<note_str>.wav      one note, 16 kHz, 4 s, held 3 s; note_str is
                              <instrument_str>-<pitch:03d>-<velocity:03d>

Without ``examples.json`` the note files' names are parsed instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timbre.errors import NoteBankError
from timbre.io import audio
from timbre.io.atomic import read_json, write_json

EXAMPLES = "examples.json"
AUDIO_DIR = "audio"
BANK_PITCHES = tuple(range(21, 109))
BANK_VELOCITIES = (25, 50, 75, 100, 127)
BANK_RATE = 16000  # Hz
HELD_SECONDS, NOTE_SECONDS = 3.0, 4.0
_NOTE_FILE = re.compile(r"^(?P<instrument>.+_\d{3})-(?P<pitch>\d{3})-(?P<velocity>\d{3})\.wav$")

# note_str -> (instrument_str, pitch, velocity, sample_rate)
Index = dict[str, tuple[str, int, int, int]]


def note_str(instrument_str: str, pitch: int, velocity: int) -> str:
    """``<instrument_str>-<pitch:03d>-<velocity:03d>``: a note's name in the bank."""
    return f"{instrument_str}-{pitch:03d}-{velocity:03d}"


def note_path(folder: str | os.PathLike, note: str) -> Path:
    """``<folder>/audio/<note_str>.wav``."""
    return Path(folder) / AUDIO_DIR / f"{note}.wav"


def check_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a path, if it is a folder.

    Raises:
        NoteBankError: it is not.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NoteBankError(
            f"{folder}: NSynth folder not found (expected examples.json and audio/<note_str>.wav)"
        )
    return folder


def read_examples(folder: Path) -> dict[str, Any]:
    """The folder's ``examples.json`` as it stands ({} when there is none)."""
    path = folder / EXAMPLES
    return read_json(path) if path.is_file() else {}


def write_examples(folder: Path, examples: dict[str, Any]) -> None:
    """Write ``examples.json`` atomically."""
    write_json(folder / EXAMPLES, examples)


def read_index(folder: Path) -> Index:
    """``note_str -> (instrument_str, pitch, velocity, sample_rate)``.

    Read from examples.json, or from the file names without it.

    Raises:
        NoteBankError: an examples.json of another shape, or neither it nor note files.
    """
    json_path = folder / EXAMPLES
    if json_path.is_file():
        examples = read_json(json_path)
        try:
            return {
                s: (
                    e["instrument_str"],
                    int(e["pitch"]),
                    int(e["velocity"]),
                    int(e.get("sample_rate", BANK_RATE)),
                )
                for s, e in examples.items()
            }
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise NoteBankError(
                f"{json_path}: not an NSynth examples.json ({type(e).__name__}: {e}; "
                f"expected note_str -> {{instrument_str, pitch, velocity, ...}})"
            ) from e
    audio_dir = folder / AUDIO_DIR
    files = sorted(audio_dir.glob("*.wav")) if audio_dir.is_dir() else []
    matches = [m for m in (_NOTE_FILE.match(f.name) for f in files) if m]
    if not matches:
        raise NoteBankError(
            f"{folder}: no examples.json and no audio/<instrument>-<pitch>-<velocity>.wav files "
            "(expected the NSynth json/wav layout)"
        )
    rate = audio.info(files[0]).sample_rate
    return {
        m.string[:-4]: (m["instrument"], int(m["pitch"]), int(m["velocity"]), rate) for m in matches
    }


def family_members(index: Mapping[str, tuple]) -> dict[str, list[str]]:
    """``family_source -> sorted instrument_strs`` (ids are zero-padded, so sorted by id)."""
    members: dict[str, list[str]] = {}
    for instrument_str in sorted({i for i, *_ in index.values()}):
        members.setdefault(instrument_str.rsplit("_", 1)[0], []).append(instrument_str)
    return members


def check_audio(folder: Path, instrument_str: str, notes: Mapping) -> None:
    """Refuse an instrument whose listed notes lack their audio files.

    Raises:
        NoteBankError: names the folder, the count and one missing file.
    """
    missing = [s for s in notes.values() if not note_path(folder, s).is_file()]
    if missing:
        raise NoteBankError(
            f"{folder}: examples.json lists {len(notes)} notes of {instrument_str} but "
            f"{len(missing)} have no audio (e.g. audio/{missing[0]}.wav; expected the json/wav "
            "release layout)"
        )
