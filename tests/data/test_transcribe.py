"""timbre.data.transcribe and timbre.evaluate.notes: basic-pitch's notes, and notes kept."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from timbre.data import midi, notebank
from timbre.data.fluid import PieceSynthesizer
from timbre.data.midi import Score
from timbre.data.transcribe import (
    Note,
    TranscribeConfig,
    Transcriber,
    note_levels_db,
    shifted,
    transcribe_folder,
    velocities,
)
from timbre.errors import DatasetError, MissingExtraError
from timbre.evaluate.notes import note_f1
from timbre.io import audio
from timbre.settings import SynthConfig

RATE = 22050
SCALE = [(0.5 * i, 0.5 * i + 0.4, pitch, 100) for i, pitch in enumerate([60, 62, 64, 65, 67, 69])]


def _notes(rows) -> list[Note]:
    return [Note(start, end, pitch, velocity) for start, end, pitch, velocity in rows]


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber()


@pytest.fixture(scope="module")
def piano():
    """A scale played by FluidSynth's piano (TimGM6mb, program 0), 22.05 kHz."""
    score = Score.from_notes(SCALE)
    return PieceSynthesizer(notebank.default_soundfont(), 0, SynthConfig(sample_rate=RATE)).render(
        score
    )


def test_a_rendered_piano_scale_is_transcribed(transcriber, piano):
    notes = transcriber.samples(piano, RATE)
    precision, recall, f1 = note_f1(_notes(SCALE), notes)
    assert recall >= 5 / 6 and f1 >= 0.7, notes  # octave ghosts may cost some precision
    assert all(0.0 <= n.start_s < n.end_s <= len(piano) / RATE + 0.1 for n in notes)
    assert all(1 <= n.velocity <= 127 for n in notes)


def test_a_file_in_chunks_gives_the_notes_at_their_times(transcriber, piano, tmp_path):
    """A 44.1 kHz file, transcribed in 1.5 s chunks: the notes of later chunks carry their
    offset, and they match those of the whole signal."""
    path = tmp_path / "scale.flac"
    audio.save(path, audio.resample(piano, RATE, 44100), 44100, subtype="PCM_24")
    whole = transcriber.samples(piano, RATE)
    chunked = Transcriber(TranscribeConfig(chunk_seconds=1.5)).file(path)
    assert max(n.start_s for n in chunked) > 2.0  # the last notes come from the second chunk
    assert note_f1(whole, chunked)[2] >= 0.8
    assert transcriber.file(path) == sorted(transcriber.file(path), key=lambda n: n.start_s)


def test_the_shifts_move_every_heard_note(transcriber, piano):
    """The same notes, their onsets 20 ms and offsets 140 ms earlier; pitches and
    velocities as heard."""
    heard = transcriber.samples(piano, RATE)
    moved = Transcriber(TranscribeConfig(onset_shift_ms=-20.0, offset_shift_ms=-140.0)).samples(
        piano, RATE
    )
    assert [(n.pitch, n.velocity) for n in moved] == [(n.pitch, n.velocity) for n in heard]
    assert np.allclose([n.start_s for n in moved], [max(0.0, n.start_s - 0.02) for n in heard])
    assert np.allclose([n.end_s for n in moved], [n.end_s - 0.14 for n in heard])


def test_a_shift_keeps_a_note_after_zero_and_at_least_50_ms_long():
    config = TranscribeConfig(onset_shift_ms=-30.0, offset_shift_ms=-140.0)
    assert shifted(1.0, 2.0, config) == pytest.approx((0.97, 1.86))
    assert shifted(0.01, 0.5, config) == pytest.approx((0.0, 0.36))  # not before the start
    assert shifted(1.0, 1.13, config) == pytest.approx((0.97, 1.02))  # 50 ms at least
    assert shifted(1.0, 2.0, TranscribeConfig()) == (1.0, 2.0)  # heard, by default


def test_velocities_follow_how_loud_the_recording_plays(transcriber):
    """Soft and loud notes alternate: the loud ones come back with the higher velocities."""
    played = [(s, e, p, 35 if k % 2 else 120) for k, (s, e, p, _) in enumerate(SCALE)]
    synthesizer = PieceSynthesizer(notebank.default_soundfont(), 0, SynthConfig(sample_rate=RATE))
    notes = transcriber.samples(synthesizer.render(Score.from_notes(played)), RATE)
    found = {n.pitch: n.velocity for n in notes}
    soft = [found[p] for k, (_, _, p, _) in enumerate(played) if k % 2 and p in found]
    loud = [found[p] for k, (_, _, p, _) in enumerate(played) if not k % 2 and p in found]
    assert len(soft) >= 2 and len(loud) >= 2, notes
    assert min(loud) > max(soft), (loud, soft)
    assert max(loud) >= 100


def test_a_notes_level_is_that_of_its_harmonics():
    seconds = np.arange(RATE) / RATE
    tone = 0.1 * np.sin(2 * np.pi * 440.0 * seconds)  # -20 dB, A4 (69)
    levels = note_levels_db(tone, [(0.2, 0.8, 69), (0.2, 0.8, 57), (0.2, 0.8, 81)], RATE)
    assert levels[0] == pytest.approx(-20.0, abs=0.5)
    assert levels[1] == pytest.approx(-20.0, abs=0.5)  # A3: 440 Hz is its second harmonic
    assert levels[2] < -60  # A5: no harmonic at 440 Hz
    assert note_levels_db(np.zeros(RATE), [(0.1, 0.5, 60)], RATE)[0] == pytest.approx(-200.0)


def test_velocities_invert_the_soundfont_curve():
    """40 dB per decade of velocity, the loudest notes at 127, clipped to 1."""
    levels = np.array([-10.0] * 99 + [-30.0, -90.0])
    assert velocities(levels).tolist() == [127] * 99 + [40, 1]
    assert velocities(levels + 25.0).tolist() == velocities(levels).tolist()  # any gain
    assert velocities(np.zeros(0)).tolist() == []


def test_silence_has_no_notes(transcriber):
    assert transcriber.samples(np.zeros(RATE, dtype=np.float32), RATE) == []


def test_note_f1_counts_onsets_and_pitches():
    reference = _notes(SCALE)
    assert note_f1(reference, reference) == (1.0, 1.0, 1.0)
    late = _notes([(s + 0.1, e + 0.1, p, v) for s, e, p, v in SCALE])  # 100 ms late
    assert note_f1(reference, late)[2] == 0.0
    octave = _notes([(s, e, p + 12, v) for s, e, p, v in SCALE])
    assert note_f1(reference, octave)[2] == 0.0
    shorter = _notes([(s, s + 0.1, p, v) for s, e, p, v in SCALE])  # offsets do not count
    assert note_f1(reference, shorter) == (1.0, 1.0, 1.0)
    precision, recall, f1 = note_f1(reference, reference[:3])
    assert (precision, recall) == (1.0, 0.5) and f1 == pytest.approx(2 / 3)
    assert note_f1([], []) == (1.0, 1.0, 1.0) and note_f1(reference, []) == (0.0, 0.0, 0.0)


def test_transcription_never_imports_tensorflow(tmp_path):
    """basic-pitch imports every backend it finds; the transcriber hides TensorFlow from it."""
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from timbre.data.transcribe import Transcriber\n"
        "notes = Transcriber().samples(np.zeros(22050, np.float32), 22050)\n"
        "print(json.dumps([len(notes), 'tensorflow' in sys.modules]))\n"
    )
    last, stderr = _python(code)
    assert json.loads(last) == [0, False]
    assert "not installed" not in stderr  # basic-pitch's warnings about other backends


def test_where_tensorflow_is_loaded_the_transcriber_warns_of_nothing():
    """basic-pitch then tries TFLite first, and TensorFlow warns that tf.lite is deprecated."""
    code = (
        "import warnings\n"
        "import tensorflow\n"
        "from timbre.data.transcribe import Transcriber\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    Transcriber()\n"
        "print([str(w.message)[:80] for w in seen])\n"
    )
    assert _python(code)[0] == "[]"


def _python(code: str) -> tuple[str, str]:
    """``code`` run by a fresh interpreter, which must succeed: its last line out, its stderr."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1], done.stderr


def test_without_basic_pitch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "basic_pitch", raising=False)
    monkeypatch.delitem(sys.modules, "basic_pitch.inference", raising=False)
    monkeypatch.setitem(sys.modules, "basic_pitch", None)
    with pytest.raises(MissingExtraError, match=r"timbre\[transcribe\].*--no-deps basic-pitch"):
        Transcriber()


class _Records:
    """Transcribes nothing, and remembers what it was asked."""

    def __init__(self):
        self.asked = []

    def file(self, path):
        self.asked.append(path.name)
        return []


def test_a_folder_of_recordings_becomes_midi_files_and_resumes(transcriber, piano, tmp_path):
    recordings = tmp_path / "my_piano"
    audio.save(recordings / "take1.wav", piano, RATE)
    audio.save(recordings / "day2" / "take2.flac", 0.5 * piano, RATE, subtype="PCM_24")
    audio.save(recordings / "silence.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (recordings / "notes.txt").write_text("not audio")
    with pytest.warns(UserWarning, match="silence.wav: no notes found; left out"):
        written = transcribe_folder(recordings, tmp_path / "midi", transcriber, progress=False)
    assert list(written) == ["day2__take2", "take1"]
    for path in written.values():
        score = midi.read(path)
        found = _notes(zip(score.start, score.end, score.pitch, score.velocity))
        assert note_f1(_notes(SCALE), found)[1] >= 5 / 6  # recall of the scale
    stub = _Records()
    with pytest.warns(UserWarning, match="silence.wav: no notes found"):
        again = transcribe_folder(recordings, tmp_path / "midi", stub, progress=False)
    assert again == written and stub.asked == ["silence.wav"]  # the rest kept, not redone


def test_a_folder_is_transcribed_with_the_thresholds_given(piano, tmp_path):
    audio.save(tmp_path / "my_piano" / "take1.wav", piano, RATE)
    strict = TranscribeConfig(minimum_note_ms=5000.0)  # longer than any note of the scale
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no notes found in any"):
        transcribe_folder(tmp_path / "my_piano", tmp_path / "midi", progress=False, config=strict)


def test_folder_transcription_errors(transcriber, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: no audio files"):
        transcribe_folder(tmp_path / "empty", tmp_path / "midi", transcriber, progress=False)
    with pytest.raises(DatasetError, match="nowhere: not found"):
        transcribe_folder(tmp_path / "nowhere", tmp_path / "midi", transcriber, progress=False)
    audio.save(tmp_path / "quiet" / "a.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no notes found in any"):
        transcribe_folder(tmp_path / "quiet", tmp_path / "midi", transcriber, progress=False)
