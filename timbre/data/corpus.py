"""The built-in generated MIDI corpus (the embedded default training music).

:func:`write_corpus` writes the embedded default corpus: seeded pieces written
to resemble real keyboard music, not random notes. Distribution per piece:

- tempo log-uniform 48-176 bpm, 3/4 (30 %) or 4/4, a random key, major or
  minor (65/35 %, harmonic minor), 15-45 s long (the last piece takes what is
  left), made of 2-4 bar sections over a chord progression (one chord per bar,
  diatonic, 30 % sevenths);
- each section picks a texture: melody over Alberti bass (20 %), over broken
  chords/arpeggios (20 %), over walking bass (12 %), block chords of 3-6 voices
  with the bass (15 %), fast scales and runs (4-16 notes/s) over a held bass
  (12 %), repeated notes or chords (9 %), long sustained chords under a melody
  (7 %), a lone melody (5 %); so 1 to 6 voices sound at once, 2-3 most often
  (more under the pedal);
- articulation per section and hand: legato (note fills its step, 30 %),
  normal (85 %, 45 %) or staccato (35-50 %, 25 %);
- dynamics per section from pp (velocity ~30) to ff (~115), a crescendo or
  diminuendo across it, +-6 jitter, the melody a little louder;
- the sustain pedal (CC64) down over 40 % of sections, changed at every bar;
- pitches: bass 26-52, accompaniment 40-84, melody 60-96, runs sweep up to
  21-108; so notes are dense in the middle of the keyboard and thin at its ends.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from timbre.data.midi import PEDAL_CC
from timbre.errors import MidiError
from timbre.io.atomic import atomic_path

_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 11)}
_TEXTURES = {
    "alberti": 0.20,
    "broken": 0.20,
    "walking": 0.12,
    "block": 0.15,
    "runs": 0.12,
    "repeated": 0.09,
    "sustained": 0.07,
    "melody": 0.05,
}
_DYNAMICS = (30, 45, 60, 75, 95, 115)  # pp p mp mf f ff


def write_corpus(folder: str | os.PathLike, minutes: float, seed: int) -> list[Path]:
    """Write a seeded corpus of generated keyboard pieces (distribution: module docstring).

    Args:
        folder: created if missing; pieces are ``piece_0000.mid``, ... Other
            ``piece_*.mid`` files there (a previous corpus) are removed, so the
            folder holds exactly this corpus.
        minutes: total length of the corpus (the last piece is shortened to fit).
        seed: the same seed gives byte-identical files.

    Returns:
        The written files, in order.

    Raises:
        MidiError: ``minutes`` is not positive.
    """
    if not minutes > 0:
        raise MidiError(f"corpus: minutes={minutes!r} (expected a positive number)")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    remaining, paths = minutes * 60.0, []
    while remaining > 1.0:
        seconds = min(remaining, rng.uniform(15.0, 45.0))
        piece = _generate_piece(rng, seconds)
        path = folder / f"piece_{len(paths):04d}.mid"
        with atomic_path(path) as tmp:
            piece.write(str(tmp))
        paths.append(path)
        remaining -= seconds
    for stale in set(folder.glob("piece_*.mid")) - set(paths):
        stale.unlink()
    return paths


class _Piece:
    """Notes and pedal intervals (seconds) of one generated piece, being written."""

    def __init__(self, rng: np.random.Generator, seconds: float) -> None:
        self.rng = rng
        self.beat = 60.0 / float(np.exp(rng.uniform(np.log(48), np.log(176))))
        self.meter = 3 if rng.random() < 0.3 else 4
        self.tonic = int(rng.integers(0, 12))
        self.scale = _SCALES["minor" if rng.random() < 0.35 else "major"]
        self.seconds = seconds
        self.notes: list[tuple[float, float, int, int]] = []
        self.pedal: list[tuple[float, float]] = []

    def pitch(self, degree: int, low: int) -> int:
        """Pitch of scale ``degree`` in the octave starting at ``low``.

        ``degree`` 0 is the tonic, 7 an octave up.
        """
        base = low - (low - self.tonic) % 12
        return base + 12 * (degree // 7) + self.scale[degree % 7]

    def chord(self, root: int, low: int, size: int) -> list[int]:
        """``size`` chord tones of the chord on degree ``root``, stacked upward from ``low``."""
        degrees = [root + 2 * k for k in range(4 if self.rng.random() < 0.3 else 3)]
        tones = [
            self.pitch(degrees[k % len(degrees)] + 7 * (k // len(degrees)), low)
            for k in range(size)
        ]
        return sorted(tones)

    def add(self, start: float, length: float, pitch: int, velocity: float) -> None:
        if start < self.seconds and 21 <= pitch <= 108:
            self.notes.append(
                (start, start + max(length, 0.02), int(pitch), int(np.clip(velocity, 1, 127)))
            )

    def to_midi(self):
        notes = [
            (start, min(end, self.seconds + 2), pitch, velocity)
            for start, end, pitch, velocity in sorted(self.notes)
        ]
        return _pretty_midi(notes, self.pedal, 60.0 / self.beat)


def _pretty_midi(
    notes: Sequence[tuple[float, float, int, int]], pedal: Sequence[tuple[float, float]], bpm: float
):
    """One piano track of notes and pedal intervals.

    The notes are ``(start_s, end_s, pitch, velocity)``, the pedal intervals ``(down_s, up_s)``.
    """
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=bpm)
    piano = pretty_midi.Instrument(program=0, name="piano")
    for start, end, pitch, velocity in notes:
        piano.notes.append(
            pretty_midi.Note(
                velocity=int(velocity), pitch=int(pitch), start=float(start), end=float(end)
            )
        )
    for down, up in pedal:
        piano.control_changes += [
            pretty_midi.ControlChange(PEDAL_CC, 127, down),
            pretty_midi.ControlChange(PEDAL_CC, 0, up),
        ]
    midi.instruments.append(piano)
    return midi


def write_notes(
    path: str | os.PathLike,
    notes: Sequence[tuple[float, float, int, int]],
    pedal: Sequence[tuple[float, float]] = (),
    bpm: float = 120.0,
) -> Path:
    """Write one piano track to a MIDI file, atomically.

    Args:
        path: destination ``.mid`` file (folders are created).
        notes: ``(start_s, end_s, pitch, velocity)`` tuples, pitch 0-127, velocity 1-127.
        pedal: ``(down_s, up_s)`` sustain-pedal intervals.
        bpm: tempo written to the file (note times are in seconds regardless).

    Raises:
        MidiError: a note with ``end_s <= start_s`` or a pitch/velocity out of range.
    """
    for start, end, pitch, velocity in notes:
        if not (end > start >= 0 and 0 <= pitch <= 127 and 1 <= velocity <= 127):
            raise MidiError(
                f"{path}: bad note (start {start}, end {end}, pitch {pitch}, velocity {velocity}) "
                "(expected 0 <= start < end, pitch 0-127, velocity 1-127)"
            )
    path = Path(path)
    with atomic_path(path) as tmp:
        _pretty_midi(notes, pedal, bpm).write(str(tmp))
    return path


def _generate_piece(rng: np.random.Generator, seconds: float):
    piece = _Piece(rng, seconds)
    names, weights = list(_TEXTURES), np.array(list(_TEXTURES.values()))
    t, root, melody = 0.0, 0, 4
    while t < seconds:
        bars = int(rng.integers(2, 5))
        texture = names[rng.choice(len(names), p=weights / weights.sum())]
        loud = rng.choice(_DYNAMICS, size=2)
        pedal = rng.random() < 0.4
        for bar in range(bars):
            bar_s = piece.meter * piece.beat
            velocity = loud[0] + (loud[1] - loud[0]) * bar / max(bars - 1, 1)
            melody = _bar(piece, texture, t, root, melody, velocity)
            if pedal:
                piece.pedal.append((t + 0.03, t + bar_s - 0.01))
            root = (
                root + int(rng.choice([3, 4, 5, 1, 2, 6], p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1]))
            ) % 7
            t += bar_s
    return piece.to_midi()


def _articulation(rng: np.random.Generator) -> float:
    r = rng.random()
    return 1.0 if r < 0.3 else 0.85 if r < 0.75 else float(rng.uniform(0.35, 0.5))


def _bar(piece: _Piece, texture: str, t: float, root: int, melody: int, velocity: float) -> int:
    """Write one bar of ``texture`` on the chord of degree ``root``.

    Returns:
        The melody's last degree.
    """
    rng, beat, n_beats = piece.rng, piece.beat, piece.meter
    jitter = lambda: velocity + rng.normal(0, 6)  # noqa: E731
    left = _articulation(rng)
    if texture in ("alberti", "broken"):
        tones = piece.chord(
            root, int(rng.integers(40, 60)), 3 if texture == "alberti" else int(rng.integers(3, 7))
        )
        order = (
            [0, 2, 1, 2]
            if texture == "alberti"
            else list(range(len(tones))) + list(range(len(tones) - 2, 0, -1))
        )
        step = beat / (4 if beat > 0.6 else 2)
        for k in range(int(round(n_beats * beat / step))):
            piece.add(t + k * step, step * left, tones[order[k % len(order)]], jitter() - 10)
    elif texture == "walking":
        for k in range(n_beats):
            piece.add(
                t + k * beat,
                beat * left,
                piece.pitch(root + int(rng.integers(-1, 3)), int(rng.integers(28, 43))),
                jitter() - 5,
            )
    elif texture in ("block", "repeated", "sustained"):
        size = int(rng.integers(2, 6)) if texture == "block" else int(rng.integers(1, 4))
        tones = piece.chord(root, int(rng.integers(46, 66)), size) + [
            piece.pitch(root, int(rng.integers(26, 46)))
        ]
        hits = {
            "block": int(rng.choice([1, 2, n_beats])),
            "repeated": n_beats * int(rng.choice([2, 4])),
            "sustained": 1,
        }[texture]
        for k in range(hits):
            for pitch in tones:
                piece.add(
                    t + k * n_beats * beat / hits, n_beats * beat / hits * left, pitch, jitter()
                )
        if texture != "sustained":
            return melody
    elif texture == "runs":
        piece.add(t, n_beats * beat, piece.pitch(root, int(rng.integers(24, 40))), jitter() - 10)
        step, degree = (
            beat / int(rng.choice([4, 8] if beat > 0.5 else [2, 4])),
            melody + 7 * int(rng.integers(-2, 2)),
        )
        direction = int(rng.choice([-1, 1]))
        for k in range(int(round(n_beats * beat / step))):
            piece.add(t + k * step, step * 0.9, piece.pitch(degree, 48), jitter())
            degree += direction
            if not 21 <= piece.pitch(degree, 48) <= 108 or rng.random() < 0.04:
                direction = -direction
        return min(max(degree, 0), 20)
    return _melody(piece, t, root, melody, velocity + 8)


def _melody(piece: _Piece, t: float, root: int, degree: int, velocity: float) -> int:
    """A stepwise melody over one bar, chord tones favoured on beats; returns its last degree."""
    rng, end = piece.rng, t + piece.meter * piece.beat
    articulation, low = _articulation(rng), 60 + 7 * int(rng.integers(0, 2))
    while t < end - 1e-6:
        length = min(piece.beat * float(rng.choice([0.5, 1, 1, 1.5, 2, 0.25])), end - t)
        degree += int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 4, -4]))
        if rng.random() < 0.5:  # lean on a chord tone
            degree += (root - degree) % 2
        degree = int(np.clip(degree, 0, 17))
        piece.add(t, length * articulation, piece.pitch(degree, low), velocity + rng.normal(0, 6))
        t += length
    return degree
