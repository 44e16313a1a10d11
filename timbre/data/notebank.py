"""Note banks: single-note recordings per (pitch, velocity), from NSynth or a SoundFont.

Both sources give the same thing, a :class:`BankSet` (one :class:`NoteBank`
per requested instrument) that the synthesizer consumes:

- :func:`open_nsynth_bank` reads a folder in the NSynth json/wav release layout
  (``examples.json`` keyed by ``note_str`` + ``audio/<note_str>.wav``, 16 kHz,
  4 s); without ``examples.json`` the file names are parsed instead. An
  instrument is named by its ``instrument_str`` (``keyboard_acoustic_004``) or
  by family and source (``keyboard_acoustic``) plus ``preset`` N: the N-th such
  instrument by id (the original scripts used preset 0).
- :func:`prepare_soundfont_bank` renders, with FluidSynth, an NSynth-format
  bank (pitches 21-108 x velocities 25/50/75/100/127, note held 3 s, 4 s long,
  16 kHz, PCM_16) into a cache folder, once per SoundFont and program; later
  runs reuse it. One gain per instrument (its loudest note peaks at -1 dBFS)
  keeps the loudness differences between velocities. Notes the SoundFont
  leaves silent are not listed, so the synthesizer builds them from the
  nearest pitch. Default cache: ``~/.cache/timbre/banks/<soundfont-hash>/``
  (``$TIMBRE_CACHE`` replaces ``~/.cache/timbre``).

Instrument names are NSynth's ``<family>_<source>``; :data:`GM_PROGRAMS` maps
them to General MIDI programs (0-based); ``programs`` overrides entries. The
folder layout is :mod:`timbre.data.nsynth`'s, the FluidSynth rendering
:mod:`timbre.data.soundfont_render`'s.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from timbre.data import nsynth, soundfont_render
from timbre.data.nsynth import BANK_PITCHES, BANK_RATE, BANK_VELOCITIES, HELD_SECONDS, NOTE_SECONDS
from timbre.errors import NoteBankError
from timbre.io import audio

GM_PROGRAMS = {  # NSynth family_source -> General MIDI program (0-based)
    "keyboard_acoustic": 0,
    "keyboard_electronic": 4,
    "keyboard_synthetic": 5,
    "string_acoustic": 48,
    "string_electronic": 50,
    "guitar_acoustic": 24,
    "guitar_electronic": 27,
    "synth_lead_synthetic": 81,
    "bass_acoustic": 32,
    "bass_electronic": 33,
    "bass_synthetic": 38,
    "brass_acoustic": 61,
    "brass_electronic": 62,
    "flute_acoustic": 73,
    "flute_synthetic": 75,
    "mallet_acoustic": 12,
    "mallet_electronic": 11,
    "organ_electronic": 16,
    "organ_acoustic": 19,
    "reed_acoustic": 71,
    "reed_electronic": 65,
    "vocal_acoustic": 52,
    "vocal_synthetic": 54,
}
DEFAULT_INSTRUMENTS = (
    "keyboard_acoustic",
    "string_acoustic",
    "guitar_acoustic",
    "synth_lead_synthetic",
)


@dataclasses.dataclass
class NoteBank:
    """One instrument's notes; audio is read on first use and cached, read-only.

    Attributes:
        instrument: the requested name (``keyboard_acoustic``).
        instrument_str: the NSynth instrument it resolved to (``keyboard_acoustic_000``).
        folder: the NSynth-layout folder (holds ``audio/``).
        notes: ``(pitch, velocity) -> note_str``.
        sample_rate: Hz of the note files.
        soundfont_program: ``(SoundFont path, GM program)`` the notes were rendered
            from, for a bank made from a SoundFont (None for NSynth); lets
            :class:`~timbre.data.fluid.PieceSynthesizer` play the same instrument.
    """

    instrument: str
    instrument_str: str
    folder: Path
    notes: dict[tuple[int, int], str]
    sample_rate: int
    soundfont_program: tuple[str, int] | None = None
    _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:  # worker processes get the index, not loaded audio
        return {**self.__dict__, "_cache": {}}

    @property
    def pitches(self) -> np.ndarray:
        """Sorted pitches the bank has, shape ``(k,)``."""
        return np.array(sorted({p for p, _ in self.notes}), dtype=np.int64)

    def velocities(self, pitch: int) -> np.ndarray:
        """Sorted velocities the bank has for ``pitch``."""
        return np.array(sorted(v for p, v in self.notes if p == pitch), dtype=np.int64)

    def note(self, pitch: int, velocity: int) -> np.ndarray:
        """The recording of ``(pitch, velocity)``.

        Returns:
            float32 ``(n,)`` at ``sample_rate``, read-only.
        """
        key = (int(pitch), int(velocity))
        if key not in self._cache:
            path = nsynth.note_path(self.folder, self.notes[key])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # quiet notes are normal in a bank
                samples, _ = audio.load(path)
            samples.setflags(write=False)
            self._cache[key] = samples
        return self._cache[key]


@dataclasses.dataclass(frozen=True)
class BankSet:
    """The banks of all requested instruments and where they came from."""

    source: str  # "soundfont" | "nsynth"
    path: str  # the .sf2 file or the NSynth folder
    banks: dict[str, NoteBank]  # requested instrument name -> bank, in request order
    choice: dict[str, object]  # soundfont: name -> GM program; nsynth: name -> instrument_str

    @property
    def instruments(self) -> list[str]:
        return list(self.banks)

    def describe(self) -> dict:
        """The manifest's ``note_bank`` entry."""
        key = "programs" if self.source == "soundfont" else "presets"
        return {"source": self.source, "path": self.path, key: dict(self.choice)}


# ------------------------------------------------------------------ NSynth ---


def open_nsynth_bank(
    folder: str | os.PathLike, instruments: Sequence[str], preset: int = 0
) -> BankSet:
    """Open instruments of an NSynth-layout folder.

    Args:
        folder: holds ``examples.json`` (optional) and ``audio/<note_str>.wav``.
        instruments: ``instrument_str`` names or ``<family>_<source>`` names.
        preset: for ``<family>_<source>`` names, which such instrument (0 = lowest id).

    Raises:
        NoteBankError: missing folder, ``examples.json`` without its audio,
            unknown instrument (lists the valid names, suggests the closest),
            preset out of range.
    """
    folder = nsynth.check_folder(folder)
    if isinstance(preset, bool) or not isinstance(preset, int) or preset < 0:
        raise NoteBankError(f"preset={preset!r} (expected an integer >= 0)")
    index = nsynth.read_index(folder)
    banks = {
        name: _nsynth_note_bank(folder, index, name, _resolve(name, index, preset, folder))
        for name in instruments
    }
    choice = {name: bank.instrument_str for name, bank in banks.items()}
    return BankSet("nsynth", str(folder), banks, choice)


def _nsynth_note_bank(
    folder: Path, index: Mapping[str, tuple], name: str, instrument_str: str
) -> NoteBank:
    notes = {(p, v): s for s, (i, p, v, _) in index.items() if i == instrument_str}
    nsynth.check_audio(folder, instrument_str, notes)
    rate = next(r for i, _, _, r in index.values() if i == instrument_str)
    return NoteBank(name, instrument_str, folder, notes, rate)


def _resolve(name: str, index: Mapping[str, tuple], preset: int, folder: Path) -> str:
    """The ``instrument_str`` for ``name`` (exact, or the preset-th of that family_source)."""
    instrument_strs = sorted({i for i, *_ in index.values()})
    if name in instrument_strs:
        return name
    family_source = nsynth.family_members(index)
    if name in family_source:
        members = family_source[name]
        if preset >= len(members):
            raise NoteBankError(
                f"{folder}: preset {preset} of {name} is out of range (expected "
                f"0..{len(members) - 1}; "
                f"the folder has {len(members)} such instruments)"
            )
        return members[preset]
    raise NoteBankError(unknown_instrument(name, sorted(family_source) + instrument_strs))


def open_nsynth_presets(folder: str | os.PathLike, name: str) -> list[NoteBank]:
    """Every instrument of ``name``'s family and source (presets 0, 1, ...); the index is read once.

    Raises:
        NoteBankError: as :func:`open_nsynth_bank`.
    """
    folder = nsynth.check_folder(folder)
    index = nsynth.read_index(folder)
    members = nsynth.family_members(index)
    if name not in members:
        raise NoteBankError(unknown_instrument(name, sorted(members)))
    return [
        _nsynth_note_bank(folder, index, name, instrument_str) for instrument_str in members[name]
    ]


def unknown_instrument(name: str, valid: Sequence[str]) -> str:
    """Message for an unknown instrument name: the valid names and the closest one."""
    message = f"unknown instrument {name!r}; choose from: {', '.join(valid)}"
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


# --------------------------------------------------------------- SoundFont ---


def default_soundfont() -> Path:
    """The General MIDI SoundFont bundled with pretty_midi (TimGM6mb.sf2)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def default_cache_dir(soundfont: str | os.PathLike) -> Path:
    """``$TIMBRE_CACHE/banks/<hash>`` (default ``~/.cache/timbre``).

    The hash covers the file and the render settings.
    """
    digest = hashlib.sha1(
        repr((BANK_PITCHES, BANK_VELOCITIES, BANK_RATE, HELD_SECONDS, NOTE_SECONDS)).encode()
    )
    with open(soundfont, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    root = Path(os.environ.get("TIMBRE_CACHE", Path.home() / ".cache" / "timbre"))
    return root / "banks" / digest.hexdigest()[:16]


def resolve_programs(
    instruments: Sequence[str], programs: Mapping[str, int] | None = None
) -> dict[str, int]:
    """GM program of each instrument: :data:`GM_PROGRAMS` updated by ``programs``.

    Raises:
        NoteBankError: an instrument has no program, or a program is outside 0-127.
    """
    table = {**GM_PROGRAMS, **(programs or {})}
    for name, program in table.items():
        if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
            raise NoteBankError(
                f"program of {name}: {program!r} (expected a General MIDI program 0-127)"
            )
    for name in table:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
            raise NoteBankError(
                f"instrument name {name!r} (expected letters, digits, '_' and '-': it names "
                "folders)"
            )
    for name in instruments:
        if name not in table:
            raise NoteBankError(
                unknown_instrument(name, sorted(table)) + "; or give its program: --program NAME=N"
            )
    return {name: table[name] for name in instruments}


def prepare_soundfont_bank(
    cache_dir: str | os.PathLike | None,
    instruments: Sequence[str],
    soundfont: str | os.PathLike | None = None,
    programs: Mapping[str, int] | None = None,
    progress: bool = True,
    pitches: Sequence[int] = BANK_PITCHES,
) -> BankSet:
    """Render (once) and open an NSynth-format bank of ``instruments`` from a SoundFont.

    Args:
        cache_dir: bank folder; ``None`` means :func:`default_cache_dir`. Instruments
            already rendered there are reused.
        instruments: NSynth ``<family>_<source>`` names (keys of the program table).
        soundfont: a ``.sf2`` file; ``None`` means :func:`default_soundfont`.
        programs: overrides of :data:`GM_PROGRAMS`, e.g. ``{"string_acoustic": 40}``.
        progress: show a tqdm bar while rendering.
        pitches: pitches to render (default 21-108); fewer make quick test banks
            (give them their own ``cache_dir``: the cache is keyed by instrument only).

    Raises:
        NoteBankError: missing or unloadable SoundFont, missing FluidSynth
            library (says how to install it), unknown instrument.
    """
    soundfont = Path(soundfont) if soundfont is not None else default_soundfont()
    if not soundfont.is_file():
        raise NoteBankError(f"{soundfont}: SoundFont not found (expected a .sf2 file)")
    chosen = resolve_programs(instruments, programs)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(soundfont)
    soundfont_render.render_missing(soundfont, folder, chosen, progress, pitches)
    index = nsynth.read_index(folder)
    banks = {}
    for name, program in chosen.items():
        instrument_str = f"{name}_{program:03d}"
        notes = {(p, v): s for s, (i, p, v, _) in index.items() if i == instrument_str}
        banks[name] = NoteBank(
            name, instrument_str, folder, notes, BANK_RATE, (str(soundfont), program)
        )
    return BankSet("soundfont", str(soundfont), banks, chosen)
