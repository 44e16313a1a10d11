"""timbre.data.midi: reading scores, finding MIDI files, naming pieces."""

import numpy as np
import pytest
from helpers import write_midi

from timbre.data import midi
from timbre.errors import MidiError


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


def test_write_then_read_gives_the_notes_back(tmp_path):
    score = midi.Score.from_notes([(0.0, 0.5, 60, 100), (0.25, 1.5, 64, 30), (1.0, 1.2, 67, 127)])
    path = midi.write(tmp_path / "sub" / "take.mid", score)
    back = midi.read(path)
    np.testing.assert_allclose(back.start, score.start, atol=2e-3)  # MIDI ticks
    np.testing.assert_allclose(back.end, score.end, atol=2e-3)
    assert list(back.pitch) == [60, 64, 67] and list(back.velocity) == [100, 30, 127]
    assert sorted(p.name for p in path.parent.iterdir()) == ["take.mid"]  # no temporary left
    with pytest.raises(MidiError, match="empty.mid: no notes to write"):
        midi.write(tmp_path / "empty.mid", midi.Score.from_notes([]))
