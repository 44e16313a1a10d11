"""Reading MIDI files into note lists, and writing them (the corpus generator is
:mod:`timbre.data.corpus`).

:func:`read` turns a MIDI file into a :class:`Score` (all non-drum notes in
seconds plus the sustain-pedal intervals), wrapping pretty_midi/mido errors so
the user sees the file name and the reason. :func:`find_midi_files` and
:func:`piece_names` find a folder's MIDI files recursively and give each a
unique, filesystem-safe name. :func:`write` writes a score as a MIDI file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from timbre.errors import MidiError

MIDI_SUFFIXES = (".mid", ".midi")
PEDAL_CC = 64  # sustain pedal controller; value >= 64 means down
DRUM_CHANNEL = 9  # General MIDI percussion (0-based)


@dataclasses.dataclass(frozen=True)
class Score:
    """The notes of a piece, in seconds, sorted by onset; drum tracks are left out.

    Attributes:
        start: ``(n,)`` float64 onsets, seconds.
        end: ``(n,)`` float64 key releases, seconds (``>= start``).
        pitch: ``(n,)`` int64 MIDI pitches 0-127.
        velocity: ``(n,)`` int64 MIDI velocities 1-127.
        track: ``(n,)`` int64 index of the track (instrument) the note is on.
        pedal: ``(m, 3)`` float64 rows ``(track, down_s, up_s)``: sustain pedal held.
    """

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    track: np.ndarray
    pedal: np.ndarray

    @classmethod
    def from_notes(cls, notes: Sequence[tuple], pedal: Sequence[tuple] = ()) -> Score:
        """Build from note tuples and pedal tuples.

        The notes are ``(start_s, end_s, pitch, velocity[, track])``, the pedal intervals
        ``(down_s, up_s[, track])``.
        """
        rows = [tuple(n) + (0,) * (5 - len(n)) for n in notes]
        data = np.array(rows, dtype=np.float64).reshape(-1, 5)
        order = np.argsort(data[:, 0], kind="stable")
        data = data[order]
        pedal_rows = [(p[2] if len(p) > 2 else 0, p[0], p[1]) for p in pedal]
        return cls(
            start=data[:, 0],
            end=np.maximum(data[:, 1], data[:, 0]),
            pitch=data[:, 2].astype(np.int64),
            velocity=data[:, 3].astype(np.int64),
            track=data[:, 4].astype(np.int64),
            pedal=np.array(pedal_rows, dtype=np.float64).reshape(-1, 3),
        )

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def seconds(self) -> float:
        """Time of the last key release (0 for an empty score)."""
        return float(self.end.max()) if len(self) else 0.0


def read(path: str | os.PathLike) -> Score:
    """Read a MIDI file's non-drum notes and sustain-pedal intervals.

    Warns when keys struck again while still held make the notes end before the
    file's last note-off (pretty_midi ends every held note of a pitch at its first
    note-off, and the re-strike stops the earlier note: a 3 s file can play 1.55 s).

    Raises:
        MidiError: the file is missing, unreadable or truncated (the message
            names the file and the reason), holds no non-drum notes, or note times
            that are not finite.
    """
    import mido
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise MidiError(f"{path}: file not found (expected a MIDI file)")
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
        restruck = _restruck(mido.MidiFile(str(path)))
    except Exception as e:  # mido raises EOFError, OSError, ValueError, KeyError, IndexError ...
        raise MidiError(
            f"{path}: not a readable MIDI file ({type(e).__name__}: {e or 'truncated'})"
        ) from e
    notes, pedal = [], []
    for track, instrument in enumerate(midi.instruments):
        if instrument.is_drum:
            continue
        notes += [
            (n.start, n.end, n.pitch, n.velocity, track) for n in instrument.notes if n.velocity > 0
        ]
        pedal += [
            (down, up, track)
            for down, up in _pedal_intervals(instrument.control_changes, midi.get_end_time())
        ]
    if not notes:
        raise MidiError(f"{path}: no notes (expected at least one note outside drum tracks)")
    times = np.array([(n[0], n[1]) for n in notes] + [(p[0], p[1]) for p in pedal], np.float64)
    if not np.isfinite(times).all() or times.min() < 0:
        raise MidiError(
            f"{path}: note times out of range ({times.min():.3g} to {times.max():.3g} s; "
            "expected finite times from 0 s on)"
        )
    score = Score.from_notes(notes, pedal)
    count, first, last_off = restruck
    if count and last_off > score.seconds + 1e-3:
        warnings.warn(
            f"{path}: {count} note(s) struck again while still held (first: pitch {first[0]} at "
            f"{first[1]:.2f} s); each stops at the next strike, so the notes end at "
            f"{score.seconds:.2f} s though the file's last note-off is at {last_off:.2f} s",
            stacklevel=2,
        )
    return score


def write(path: str | os.PathLike, score: Score, program: int = 0) -> Path:
    """Write ``score``'s notes as a one-track MIDI file played by GM ``program``, atomically
    (a transcription, say, for the renderers to play); :func:`read` reads it back.

    Raises:
        MidiError: an empty score.
    """
    import pretty_midi

    from timbre.io.atomic import atomic_path

    path = Path(path)
    if not len(score):
        raise MidiError(f"{path}: no notes to write (expected at least one)")
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=int(program))
    instrument.notes = [
        pretty_midi.Note(int(v), int(p), float(s), float(e))
        for s, e, p, v in zip(score.start, score.end, score.pitch, score.velocity)
    ]
    midi.instruments.append(instrument)
    with atomic_path(path) as tmp:
        midi.write(str(tmp))
    return path


def _restruck(midi_file) -> tuple[int, tuple[int, float], float]:
    """(note-ons of a key already held, (pitch, seconds) of the first, time of the last note-off)
    over the non-drum channels of a ``mido.MidiFile``."""
    held: dict[tuple[int, int], int] = {}
    count, first, now, last_off = 0, (0, 0.0), 0.0, 0.0
    for message in midi_file:
        now += message.time
        if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            if held.get(key, 0):
                count, first = count + 1, first if count else (message.note, now)
            held[key] = held.get(key, 0) + 1
        else:
            held[key] = max(held.get(key, 0) - 1, 0)
            last_off = now
    return count, first, last_off


def _pedal_intervals(changes, end_s: float) -> list[tuple[float, float]]:
    intervals, down = [], None
    for change in sorted((c for c in changes if c.number == PEDAL_CC), key=lambda c: c.time):
        if change.value >= 64 and down is None:
            down = change.time
        elif change.value < 64 and down is not None:
            intervals.append((down, change.time))
            down = None
    if down is not None:
        intervals.append((down, max(end_s, down)))
    return intervals


def find_midi_files(folder: str | os.PathLike) -> list[Path]:
    """All ``.mid``/``.midi`` files (any letter case) under ``folder``, recursively, sorted.

    A single MIDI file may be given instead of a folder.

    Raises:
        MidiError: ``folder`` does not exist.
    """
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise MidiError(f"{folder}: folder not found (expected a folder of MIDI files)")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in MIDI_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def piece_names(paths: Sequence[Path], root: str | os.PathLike) -> dict[Path, str]:
    """Unique, filesystem-safe piece names from paths relative to ``root``.

    ``sub/name.mid`` becomes ``sub__name``; characters other than letters,
    digits, ``-``, ``_``, ``.`` become ``_``. Names that would still collide
    (``a.mid`` and ``a.midi``) get ``-2``, ``-3``, ... in sorted path order.
    """
    root = Path(root)
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in sorted(paths):
        relative = path.relative_to(root) if root.is_dir() else Path(path.name)
        parts = list(relative.parent.parts) + [relative.stem]
        base = re.sub(r"[^A-Za-z0-9._-]", "_", "__".join(parts)).lstrip(".") or "piece"
        name, k = base, 1
        while name.lower() in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name.lower())
        names[path] = name
    return names
