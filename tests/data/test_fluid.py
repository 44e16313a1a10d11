"""timbre.data.fluid: whole pieces played by FluidSynth, aligned with the bank renderer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import write_midi

from timbre.data import notebank, render
from timbre.data.fluid import PieceSynthesizer
from timbre.data.midi import Score
from timbre.data.synth import NoteSynthesizer
from timbre.settings import SynthConfig

CONFIG = SynthConfig(sample_rate=16000)
HELD = Score.from_notes([(0.0, 6.0, 60, 90), (0.5, 1.0, 64, 127), (2.0, 2.5, 67, 40)], [])


def _level_db(x: np.ndarray, start_s: float, rate: int = 16000) -> float:
    part = x[int(start_s * rate) : int((start_s + 0.5) * rate)]
    return 10 * np.log10(np.mean(np.square(part, dtype=np.float64)) + 1e-30)


@pytest.fixture(scope="module")
def strings_bank(tmp_path_factory):
    return notebank.prepare_soundfont_bank(
        tmp_path_factory.mktemp("bank"), ["string_acoustic"], progress=False, pitches=(60, 64, 67)
    ).banks["string_acoustic"]


def test_a_held_string_note_sustains_where_the_bank_note_has_ended(strings_bank):
    piece = PieceSynthesizer(notebank.default_soundfont(), 48, CONFIG).render(HELD)
    notes = NoteSynthesizer(strings_bank, CONFIG, warn=False).render(HELD)
    assert piece.shape == notes.shape and piece.dtype == np.float32  # the same length: aligned
    assert _level_db(piece, 5.0) > _level_db(piece, 3.0) - 10.0  # still sounding at 5 s
    assert _level_db(notes, 5.0) < _level_db(notes, 3.0) - 60.0  # the 4 s bank note is over
    assert np.max(np.abs(piece)) == pytest.approx(10 ** (-CONFIG.headroom_db / 20), rel=1e-4)


def test_every_piece_renders_the_same_bytes_whatever_came_before():
    synth = PieceSynthesizer(notebank.default_soundfont(), 48, CONFIG)
    other = Score.from_notes([(0.0, 1.0, 72, 120), (0.2, 0.9, 48, 100)], [])
    alone = synth.render(HELD)
    synth.render(other)
    assert np.array_equal(synth.render(HELD), alone)


def test_the_bank_of_a_soundfont_knows_its_program(strings_bank):
    assert strings_bank.soundfont_program == (str(notebank.default_soundfont()), 48)


def test_render_pairs_with_fluidsynth_aligns_every_instrument(tmp_path):
    for k in range(3):
        write_midi(tmp_path / "midi" / f"p{k}.mid", [(0.0, 4.5, 60 + k, 90), (1.0, 2.0, 67, 60)])
    # In a fresh interpreter, as synthesize_audios.py runs: FluidSynth's float arithmetic
    # follows the process's floating-point state, which TensorFlow (imported by other tests
    # in this process) changes, so the parent and a spawned worker would differ here.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from timbre.settings import SynthConfig\n"
        "from timbre.data import notebank, render\n"
        "root = Path(sys.argv[1])\n"
        "banks = notebank.prepare_soundfont_bank(root / 'bank', ['keyboard_acoustic', "
        "'string_acoustic'], progress=False, pitches=(60,))\n"
        "config = SynthConfig(sample_rate=16000, renderer='fluidsynth')\n"
        "for folder, jobs in (('one', 1), ('two', 2)):\n"
        "    render.render_pairs(root / 'midi', root / folder, banks, config, jobs=jobs,\n"
        "                        progress=False)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    for k in range(3):
        files = [
            tmp_path / f / i / f"p{k}.wav"
            for f in ("one", "two")
            for i in ("keyboard_acoustic", "string_acoustic")
        ]
        assert len({f.stat().st_size for f in files}) == 1  # equal lengths
        assert files[0].read_bytes() == files[2].read_bytes()  # one or two workers: same bytes
        assert files[1].read_bytes() == files[3].read_bytes()


def test_nsynth_banks_keep_the_note_renderer(nsynth_folder, tmp_path):
    banks = notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acoustic", "string_acoustic"])
    assert banks.banks["keyboard_acoustic"].soundfont_program is None
    write_midi(tmp_path / "midi" / "a.mid", [(0.0, 0.5, 60, 100)])
    summary = render.render_pairs(
        tmp_path / "midi",
        tmp_path / "out",
        banks,
        SynthConfig(sample_rate=16000, renderer="fluidsynth"),
        jobs=1,
        progress=False,
    )
    assert summary.rendered == ["a"]
