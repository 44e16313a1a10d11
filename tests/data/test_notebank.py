import json
import sys

import numpy as np
import pytest
from helpers import NSYNTH_PITCHES, NSYNTH_VELOCITIES, write_nsynth_folder

from timbre.data import notebank, soundfont_render
from timbre.errors import NoteBankError
from timbre.io import audio


def test_nsynth_by_instrument_str_and_family_with_preset(nsynth_folder):
    banks = notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acoustic", "string_acoustic_001"])
    assert banks.instruments == ["keyboard_acoustic", "string_acoustic_001"]
    assert (
        banks.banks["keyboard_acoustic"].instrument_str == "keyboard_acoustic_000"
    )  # preset 0: lowest id
    assert banks.describe() == {
        "source": "nsynth",
        "path": str(nsynth_folder),
        "presets": {
            "keyboard_acoustic": "keyboard_acoustic_000",
            "string_acoustic_001": "string_acoustic_001",
        },
    }
    second = notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acoustic"], preset=1)
    assert second.banks["keyboard_acoustic"].instrument_str == "keyboard_acoustic_003"
    bank = banks.banks["keyboard_acoustic"]
    assert bank.sample_rate == 16000
    assert list(bank.pitches) == list(NSYNTH_PITCHES)
    assert list(bank.velocities(60)) == list(NSYNTH_VELOCITIES)
    with pytest.raises(
        NoteBankError, match="preset 2 of keyboard_acoustic is out of range .expected 0..1"
    ):
        notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acoustic"], preset=2)


def test_nsynth_notes_load_lazily_read_only_and_cached(nsynth_folder):
    bank = notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acoustic"]).banks[
        "keyboard_acoustic"
    ]
    assert bank._cache == {}  # nothing read on opening
    note = bank.note(60, 100)
    assert note.shape == (64000,) and note.dtype == np.float32 and not note.flags.writeable
    assert bank.note(60, 100) is note and len(bank._cache) == 1
    spectrum = np.abs(np.fft.rfft(note[:16000]))
    assert np.argmax(spectrum) == pytest.approx(261.63, abs=1.0)  # 1 Hz bins


def test_nsynth_without_examples_json_parses_file_names(tmp_path):
    folder = write_nsynth_folder(
        tmp_path, instruments=("guitar_acoustic_002",), pitches=(60, 62), with_json=False
    )
    bank = notebank.open_nsynth_bank(folder, ["guitar_acoustic"]).banks["guitar_acoustic"]
    assert bank.instrument_str == "guitar_acoustic_002"
    assert sorted(bank.notes) == [(60, 50), (60, 100), (62, 50), (62, 100)]
    assert bank.sample_rate == 16000


def test_nsynth_bad_inputs(tmp_path, nsynth_folder):
    with pytest.raises(NoteBankError, match="nowhere: NSynth folder not found"):
        notebank.open_nsynth_bank(tmp_path / "nowhere", ["keyboard_acoustic"])
    with pytest.raises(
        NoteBankError,
        match="unknown instrument 'keyboard_acustic'; choose from: keyboard_acoustic, "
        "string_acoustic, .*did you mean 'keyboard_acoustic'",
    ):
        notebank.open_nsynth_bank(nsynth_folder, ["keyboard_acustic"])
    only_json = tmp_path / "only_json"
    only_json.mkdir()
    (only_json / "examples.json").write_text((nsynth_folder / "examples.json").read_text())
    with pytest.raises(
        NoteBankError,
        match="examples.json lists 8 notes of keyboard_acoustic_000 but 8 have no audio",
    ):
        notebank.open_nsynth_bank(only_json, ["keyboard_acoustic"])
    (only_json / "examples.json").write_text(json.dumps({"x": {"pitch": 60}}))
    with pytest.raises(NoteBankError, match="not an NSynth examples.json"):
        notebank.open_nsynth_bank(only_json, ["keyboard_acoustic"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoteBankError, match="no examples.json and no audio"):
        notebank.open_nsynth_bank(empty, ["keyboard_acoustic"])


def test_soundfont_bank_is_nsynth_format_and_keeps_velocity_loudness(soundfont_banks):
    assert soundfont_banks.describe()["programs"] == {"keyboard_acoustic": 0, "string_acoustic": 48}
    bank = soundfont_banks.banks["string_acoustic"]
    assert bank.instrument_str == "string_acoustic_048"
    assert sorted(bank.notes) == [(p, v) for p in (57, 60, 69) for v in notebank.BANK_VELOCITIES]
    examples = json.loads((bank.folder / "examples.json").read_text())
    entry = examples["string_acoustic_048-060-100"]
    assert entry["pitch"] == 60 and entry["velocity"] == 100 and entry["sample_rate"] == 16000
    assert (
        entry["instrument_family_str"] == "string" and entry["instrument_source_str"] == "acoustic"
    )
    info = audio.info(bank.folder / "audio" / "string_acoustic_048-060-100.wav")
    assert (info.sample_rate, info.frames, info.channels) == (16000, 64000, 1)
    peaks = [float(np.max(np.abs(bank.note(60, v)))) for v in notebank.BANK_VELOCITIES]
    assert all(
        a < b for a, b in zip(peaks, peaks[1:])
    )  # one gain for the bank: louder with velocity
    loudest = max(float(np.max(np.abs(bank.note(p, v)))) for p, v in bank.notes)
    assert loudest == pytest.approx(soundfont_render.BANK_PEAK, abs=2e-3)
    held, released = bank.note(60, 100)[40000:47000], bank.note(60, 100)[62000:]
    assert np.sqrt(np.mean(held**2)) > 10 * np.sqrt(
        np.mean(released**2)
    )  # note held 3 s, then released


def test_soundfont_bank_reused_from_cache_and_program_override(soundfont_banks, monkeypatch):
    folder = soundfont_banks.banks["keyboard_acoustic"].folder
    monkeypatch.setattr(
        soundfont_render, "render_instrument", lambda *a: pytest.fail("cached bank rendered again")
    )
    again = notebank.prepare_soundfont_bank(folder, ["string_acoustic"], progress=False)
    assert again.banks["string_acoustic"].notes == soundfont_banks.banks["string_acoustic"].notes
    monkeypatch.undo()
    other = notebank.prepare_soundfont_bank(
        folder, ["string_acoustic"], programs={"string_acoustic": 40}, progress=False, pitches=(60,)
    )
    assert other.banks["string_acoustic"].instrument_str == "string_acoustic_040"
    assert other.describe()["programs"] == {"string_acoustic": 40}
    assert not np.array_equal(
        other.banks["string_acoustic"].note(60, 100),
        soundfont_banks.banks["string_acoustic"].note(60, 100),
    )


def test_soundfont_bad_inputs(tmp_path, monkeypatch):
    with pytest.raises(NoteBankError, match="missing.sf2: SoundFont not found"):
        notebank.prepare_soundfont_bank(
            tmp_path, ["keyboard_acoustic"], soundfont=tmp_path / "missing.sf2"
        )
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont" * 20)
    with pytest.raises(NoteBankError, match="bad.sf2: FluidSynth cannot load this SoundFont"):
        notebank.prepare_soundfont_bank(
            tmp_path / "c1", ["keyboard_acoustic"], soundfont=bad, progress=False
        )
    with pytest.raises(
        NoteBankError,
        match=(
            "unknown instrument 'strings_acoustic'.*did you mean 'string_acoustic'"
            ".*--program NAME=N"
        ),
    ):
        notebank.prepare_soundfont_bank(tmp_path / "c2", ["strings_acoustic"])
    with pytest.raises(
        NoteBankError,
        match="program of string_acoustic: 200 .expected a General MIDI program 0-127",
    ):
        notebank.prepare_soundfont_bank(
            tmp_path / "c3", ["string_acoustic"], programs={"string_acoustic": 200}
        )
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fails as without libfluidsynth
    with pytest.raises(
        NoteBankError, match="FluidSynth library not found .*apt-get install libfluidsynth3"
    ):
        notebank.prepare_soundfont_bank(tmp_path / "c4", ["keyboard_acoustic"], progress=False)


def test_default_soundfont_and_cache(monkeypatch, tmp_path):
    soundfont = notebank.default_soundfont()
    assert soundfont.name == "TimGM6mb.sf2" and soundfont.is_file()
    monkeypatch.setenv("TIMBRE_CACHE", str(tmp_path))
    cache = notebank.default_cache_dir(soundfont)
    assert cache.parent == tmp_path / "banks" and len(cache.name) == 16
    assert notebank.default_cache_dir(soundfont) == cache


def test_program_override_adds_any_instrument(tmp_path):
    banks = notebank.prepare_soundfont_bank(
        tmp_path,
        ["cello_acoustic", "piano"],
        programs={"cello_acoustic": 42, "piano": 0},
        progress=False,
        pitches=(48,),
    )
    assert (
        banks.banks["cello_acoustic"].instrument_str == "cello_acoustic_042"
        and banks.banks["piano"].notes
    )
    entry = json.loads((tmp_path / "examples.json").read_text())["piano_000-048-100"]
    assert (entry["instrument_family_str"], entry["instrument_source_str"]) == ("piano", "")
    with pytest.raises(NoteBankError, match="instrument name '../x' .expected letters, digits"):
        notebank.prepare_soundfont_bank(tmp_path, ["../x"], programs={"../x": 1})
