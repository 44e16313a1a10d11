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
them to General MIDI programs (0-based); ``programs`` overrides entries.
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

from timbre.errors import NoteBankError
from timbre.io import audio
from timbre.io.atomic import read_json, write_json

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
BANK_PITCHES = tuple(range(21, 109))
BANK_VELOCITIES = (25, 50, 75, 100, 127)
BANK_RATE = 16000  # Hz
HELD_SECONDS, NOTE_SECONDS = 3.0, 4.0
BANK_PEAK = 10 ** (-1 / 20)  # each SoundFont instrument's loudest note peaks at -1 dBFS
SILENT_NOTE = 1e-4  # a rendered note with a lower peak is left out of the bank
_NOTE_FILE = re.compile(r"^(?P<instrument>.+_\d{3})-(?P<pitch>\d{3})-(?P<velocity>\d{3})\.wav$")


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
            path = self.folder / "audio" / f"{self.notes[key]}.wav"
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
    folder = _nsynth_folder(folder)
    if isinstance(preset, bool) or not isinstance(preset, int) or preset < 0:
        raise NoteBankError(f"preset={preset!r} (expected an integer >= 0)")
    index = _nsynth_index(folder)
    banks = {
        name: _nsynth_note_bank(folder, index, name, _resolve(name, index, preset, folder))
        for name in instruments
    }
    choice = {name: bank.instrument_str for name, bank in banks.items()}
    return BankSet("nsynth", str(folder), banks, choice)


def _nsynth_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise NoteBankError(
            f"{folder}: NSynth folder not found (expected examples.json and audio/<note_str>.wav)"
        )
    return folder


def _nsynth_note_bank(
    folder: Path, index: Mapping[str, tuple], name: str, instrument_str: str
) -> NoteBank:
    notes = {(p, v): s for s, (i, p, v, _) in index.items() if i == instrument_str}
    _check_audio(folder, instrument_str, notes)
    rate = next(r for i, _, _, r in index.values() if i == instrument_str)
    return NoteBank(name, instrument_str, folder, notes, rate)


def _nsynth_index(folder: Path) -> dict[str, tuple[str, int, int, int]]:
    """``note_str -> (instrument_str, pitch, velocity, sample_rate)``.

    Read from examples.json, or from the file names without it.
    """
    json_path = folder / "examples.json"
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
    files = sorted((folder / "audio").glob("*.wav")) if (folder / "audio").is_dir() else []
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


def _resolve(name: str, index: Mapping[str, tuple], preset: int, folder: Path) -> str:
    """The ``instrument_str`` for ``name`` (exact, or the preset-th of that family_source)."""
    instrument_strs = sorted({i for i, *_ in index.values()})
    if name in instrument_strs:
        return name
    family_source = _family_members(index)
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
    folder = _nsynth_folder(folder)
    index = _nsynth_index(folder)
    members = _family_members(index)
    if name not in members:
        raise NoteBankError(unknown_instrument(name, sorted(members)))
    return [
        _nsynth_note_bank(folder, index, name, instrument_str) for instrument_str in members[name]
    ]


def _family_members(index: Mapping[str, tuple]) -> dict[str, list[str]]:
    """``family_source -> sorted instrument_strs`` (ids are zero-padded, so sorted by id)."""
    members: dict[str, list[str]] = {}
    for instrument_str in sorted({i for i, *_ in index.values()}):
        members.setdefault(instrument_str.rsplit("_", 1)[0], []).append(instrument_str)
    return members


def _check_audio(folder: Path, instrument_str: str, notes: Mapping) -> None:
    missing = [s for s in notes.values() if not (folder / "audio" / f"{s}.wav").is_file()]
    if missing:
        raise NoteBankError(
            f"{folder}: examples.json lists {len(notes)} notes of {instrument_str} but "
            f"{len(missing)} have no audio (e.g. audio/{missing[0]}.wav; expected the json/wav "
            "release layout)"
        )


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
    _render_missing(soundfont, folder, chosen, progress, pitches)
    index = _nsynth_index(folder)
    banks = {}
    for name, program in chosen.items():
        instrument_str = f"{name}_{program:03d}"
        notes = {(p, v): s for s, (i, p, v, _) in index.items() if i == instrument_str}
        banks[name] = NoteBank(
            name, instrument_str, folder, notes, BANK_RATE, (str(soundfont), program)
        )
    return BankSet("soundfont", str(soundfont), banks, chosen)


def _render_missing(
    soundfont: Path, folder: Path, chosen: Mapping[str, int], progress: bool, pitches: Sequence[int]
) -> None:
    """Render the instruments of ``chosen`` that ``folder`` lacks.

    examples.json is rewritten after each.
    """
    json_path = folder / "examples.json"
    examples = read_json(json_path) if json_path.is_file() else {}
    done = {e.get("instrument_str") for e in examples.values()}
    todo = {
        name: program for name, program in chosen.items() if f"{name}_{program:03d}" not in done
    }
    if not todo:
        return
    synth, sfid = open_soundfont(soundfont)
    try:
        for name, program in todo.items():
            if synth.program_select(0, sfid, 0, program) != 0:
                raise NoteBankError(
                    f"{soundfont}: no preset for program {program} of {name} (expected a General "
                    "MIDI SoundFont)"
                )
            notes = _render_instrument(synth, f"{name} (program {program})", progress, pitches)
            examples.update(_save_instrument(folder, name, program, notes, soundfont))
            write_json(json_path, examples)
    finally:
        synth.delete()


def _import_fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as e:
        raise NoteBankError(
            f"FluidSynth library not found ({e}); install it: sudo apt-get install libfluidsynth3 "
            "(macOS: brew install fluid-synth), or run `make setup`; or use --nsynth_path"
        ) from e
    return fluidsynth


def open_soundfont(
    soundfont: Path, sample_rate: int = BANK_RATE, gain: float = 1.5, lazy: bool = False
):
    """A FluidSynth synthesizer (reverb and chorus off) with ``soundfont`` loaded.

    ``lazy``: load a preset's samples only when it is selected (fast for one program).

    Returns:
        ``(synth, soundfont id)``; the caller deletes the synth.

    Raises:
        NoteBankError: no FluidSynth library, or a file FluidSynth cannot load.
    """
    fluidsynth = _import_fluidsynth()
    synth = fluidsynth.Synth(
        gain=gain,
        samplerate=float(sample_rate),
        **{
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.dynamic-sample-loading": int(lazy),
        },
    )
    sfid = synth.sfload(str(soundfont))
    if sfid < 0:
        synth.delete()
        raise NoteBankError(
            f"{soundfont}: FluidSynth cannot load this SoundFont (expected a valid .sf2 file)"
        )
    return synth, sfid


def _render_instrument(
    synth, label: str, progress: bool, pitches: Sequence[int]
) -> dict[tuple[int, int], np.ndarray]:
    """Every (pitch, velocity) of the bank on channel 0.

    Returns:
        float32 ``(NOTE_SECONDS * BANK_RATE,)`` per note.
    """
    from tqdm.auto import tqdm

    held, rest = int(HELD_SECONDS * BANK_RATE), int((NOTE_SECONDS - HELD_SECONDS) * BANK_RATE)
    notes = {}
    for pitch in tqdm(
        pitches, desc=f"rendering {label}", unit="pitch", disable=not progress, leave=False
    ):
        for velocity in BANK_VELOCITIES:
            synth.noteon(0, pitch, velocity)
            on = synth.get_samples(held)
            synth.noteoff(0, pitch)
            off = synth.get_samples(rest)
            synth.all_sounds_off(0)
            stereo = np.concatenate([on, off]).reshape(-1, 2).astype(np.float32)
            notes[(pitch, velocity)] = stereo.mean(axis=1) / 32768.0
    return notes


def _save_instrument(
    folder: Path,
    name: str,
    program: int,
    notes: Mapping[tuple[int, int], np.ndarray],
    soundfont: Path,
) -> dict[str, dict]:
    """Write one instrument's notes with one gain.

    Returns:
        Its examples.json entries (silent notes left out).
    """
    peak = max(float(np.max(np.abs(x))) for x in notes.values())
    if peak < SILENT_NOTE:
        raise NoteBankError(
            f"{soundfont}: program {program} of {name} renders silence (expected audible notes)"
        )
    gain = BANK_PEAK / peak
    instrument_str = f"{name}_{program:03d}"
    family, _, source = name.rpartition("_")
    entries = {}
    for (pitch, velocity), samples in notes.items():
        if np.max(np.abs(samples)) * gain < SILENT_NOTE:
            continue
        note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
        audio.save(
            folder / "audio" / f"{note_str}.wav", samples * gain, BANK_RATE, subtype="PCM_16"
        )
        entries[note_str] = {
            "note_str": note_str,
            "pitch": pitch,
            "velocity": velocity,
            "sample_rate": BANK_RATE,
            "instrument": program,
            "instrument_str": instrument_str,
            "instrument_family_str": family or source,
            "instrument_source_str": source if family else "",
            "soundfont": soundfont.name,
        }
    return entries
