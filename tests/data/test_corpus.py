"""timbre.data.corpus: the seeded keyboard corpus and writing notes to MIDI."""

import numpy as np
import pretty_midi
import pytest

from timbre.data import corpus, midi
from timbre.errors import MidiError


def test_corpus_is_seeded_and_sized(tmp_path):
    first = corpus.write_corpus(tmp_path / "a", minutes=1.5, seed=7)
    again = corpus.write_corpus(tmp_path / "b", minutes=1.5, seed=7)
    other = corpus.write_corpus(tmp_path / "c", minutes=1.5, seed=8)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]
    scores = [midi.read(p) for p in first]
    total = sum(s.start.max() for s in scores)
    assert 60 < total <= 90.5  # the pieces fill the requested minutes
    (tmp_path / "a" / "mine.mid").write_bytes(b"")
    smaller = corpus.write_corpus(tmp_path / "a", minutes=0.5, seed=7)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [p.name for p in smaller] + ["mine.mid"]
    )


def test_corpus_resembles_keyboard_writing(tmp_path):
    scores = [midi.read(p) for p in corpus.write_corpus(tmp_path, minutes=6, seed=1)]
    pitches = np.concatenate([s.pitch for s in scores])
    velocities = np.concatenate([s.velocity for s in scores])
    assert pitches.min() <= 30 and pitches.max() >= 90  # wide range ...
    assert 48 <= np.median(pitches) <= 72  # ... dense in the middle
    assert velocities.min() < 40 and velocities.max() > 110  # pp to ff
    assert sum(len(s.pedal) for s in scores) > 0  # sustain-pedal passages
    lengths = np.concatenate([s.end - s.start for s in scores])
    assert lengths.min() < 0.1 and lengths.max() > 2.0  # fast runs and long sustained notes
    grid = np.arange(0, 20, 0.01)
    polyphony = np.concatenate(
        [((s.start[None] <= grid[:, None]) & (s.end[None] > grid[:, None])).sum(1) for s in scores]
    )
    assert polyphony.max() >= 4 and np.mean(polyphony == 1) > 0.05  # single lines and full chords
    tempi = [
        pretty_midi.PrettyMIDI(str(p)).get_tempo_changes()[1][0]
        for p in sorted(tmp_path.glob("*.mid"))
    ]
    assert min(tempi) < 90 < max(tempi)


def test_corpus_rejects_bad_minutes(tmp_path):
    with pytest.raises(MidiError, match="minutes=0 .expected a positive number"):
        corpus.write_corpus(tmp_path, 0, seed=0)


def test_write_notes_round_trip(tmp_path):
    notes = [(0.0, 0.5, 60, 80), (0.5, 1.25, 64, 100), (0.5, 1.0, 48, 40)]
    path = corpus.write_notes(tmp_path / "sub" / "m.mid", notes, pedal=[(0.4, 1.1)])
    score = midi.read(path)
    assert sorted(
        zip(score.start.round(3), score.end.round(3), score.pitch, score.velocity)
    ) == sorted(notes)
    assert len(score.pedal) == 1
    with pytest.raises(MidiError, match="bad note"):
        corpus.write_notes(tmp_path / "bad.mid", [(1.0, 0.5, 60, 80)])
