import numpy as np
import pretty_midi
import pytest

from timbre.errors import MidiError
from timbre.synthesis import corpus, midi


def write_midi(path, notes, drums=(), pedal=()):
    """Write a MIDI file of ``notes``, ``drums`` and ``pedal`` to ``path``.

    ``notes``/``drums``: (start, end, pitch, velocity); ``pedal``: (down, up) on the piano track.
    """
    score = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in notes]
    for down, up in pedal:
        piano.control_changes += [
            pretty_midi.ControlChange(64, 100, down),
            pretty_midi.ControlChange(64, 0, up),
        ]
    score.instruments.append(piano)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in drums]
        score.instruments.append(kit)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.write(str(path))
    return path


def test_read_notes_pedal_and_skips_drums(tmp_path):
    path = write_midi(
        tmp_path / "a.mid",
        [(1.0, 1.5, 64, 80), (0.0, 0.5, 60, 100)],
        drums=[(0.0, 0.1, 36, 100)],
        pedal=[(0.25, 2.0)],
    )
    score = midi.read(path)
    assert len(score) == 2
    np.testing.assert_allclose(score.start, [0.0, 1.0], atol=1e-3)  # sorted by onset
    np.testing.assert_allclose(score.end, [0.5, 1.5], atol=1e-3)
    assert list(score.pitch) == [60, 64] and list(score.velocity) == [100, 80]
    np.testing.assert_allclose(score.pedal, [[0, 0.25, 2.0]], atol=1e-3)
    assert score.seconds == pytest.approx(1.5, abs=1e-3)


def test_read_bad_files(tmp_path):
    with pytest.raises(MidiError, match="gone.mid: file not found"):
        midi.read(tmp_path / "gone.mid")
    good = write_midi(tmp_path / "good.mid", [(0.0, 1.0, 60, 90)] * 3)
    truncated = tmp_path / "truncated.mid"
    truncated.write_bytes(good.read_bytes()[:30])
    with pytest.raises(MidiError, match="truncated.mid: not a readable MIDI file"):
        midi.read(truncated)
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"hello, not midi" * 10)
    with pytest.raises(MidiError, match="garbage.mid: not a readable MIDI file"):
        midi.read(garbage)
    only_drums = write_midi(tmp_path / "drums.mid", [], drums=[(0.0, 0.1, 36, 100)])
    with pytest.raises(MidiError, match="drums.mid: no notes"):
        midi.read(only_drums)


def test_find_midi_files_recursive_and_unique_names(tmp_path):
    for name in [
        "a.mid",
        "sub/a.mid",
        "sub/deeper/b.MID",
        "c.midi",
        "c.mid",
        "x y.mid",
        "notes.txt",
        ".hidden.mid",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files = midi.find_midi_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "a.mid",
        "c.mid",
        "c.midi",
        "sub/a.mid",
        "sub/deeper/b.MID",
        "x y.mid",
    ]
    names = midi.piece_names(files, tmp_path)
    assert [names[p] for p in files] == ["a", "c", "c-2", "sub__a", "sub__deeper__b", "x_y"]
    assert midi.find_midi_files(files[0]) == [files[0]]
    with pytest.raises(MidiError, match="nowhere: folder not found"):
        midi.find_midi_files(tmp_path / "nowhere")


def test_score_from_notes():
    score = midi.Score.from_notes([(1.0, 2.0, 60, 90), (0.0, 0.5, 62, 80, 1)], pedal=[(0.1, 0.9)])
    assert list(score.pitch) == [62, 60] and list(score.track) == [1, 0]
    np.testing.assert_allclose(score.pedal, [[0.0, 0.1, 0.9]])


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
