"""timbre.data.render and synthesize_audios.py: paired audio, manifest, resume."""

import json
import multiprocessing
import time

import numpy as np
import pytest
from helpers import write_midi

from timbre.cli.synthesize import main
from timbre.data import render
from timbre.data.notebank import open_nsynth_bank
from timbre.errors import DatasetError, MidiError, TimbreError
from timbre.io import audio, pool
from timbre.settings import SynthConfig

INSTRUMENTS = ["keyboard_acoustic", "string_acoustic"]


@pytest.fixture
def banks(nsynth_folder):
    return open_nsynth_bank(nsynth_folder, INSTRUMENTS)


@pytest.fixture
def midi_folder(tmp_path):
    """Four small pieces; two share the name ``song`` in different folders."""
    folder = tmp_path / "midi"
    write_midi(folder / "song.mid", [(0.0, 0.5, 60, 90), (0.5, 1.0, 64, 70)], pedal=[(0.1, 1.5)])
    write_midi(folder / "sub" / "song.mid", [(0.0, 0.4, 57, 100), (0.2, 1.2, 69, 50)])
    write_midi(folder / "chords.MID", [(0.0, 0.8, p, 80) for p in (57, 60, 64)])
    write_midi(
        folder / "deep" / "er" / "run.midi",
        [(0.1 * i, 0.1 * i + 0.1, 57 + i, 60 + 5 * i) for i in range(8)],
    )
    return folder


def wavs(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def test_pairs_have_equal_lengths_and_manifest(tmp_path, midi_folder, banks):
    with pytest.warns(
        UserWarning, match="lacks 5 pitches"
    ):  # 58, 59, 61, 62, 63 are made by resampling
        summary = render.render_pairs(
            midi_folder, tmp_path / "audios", banks, SynthConfig(), jobs=1, seed=3, progress=False
        )
    names = ["chords", "deep__er__run", "song", "sub__song"]
    assert sorted(summary.rendered) == names and summary.skipped == [] and summary.failed == {}
    manifest = json.loads(summary.manifest.read_text())
    assert (
        manifest["version"] == 1
        and manifest["sample_rate"] == 44100
        and manifest["instruments"] == INSTRUMENTS
    )
    assert (
        manifest["synth"] == SynthConfig().to_dict() and manifest["note_bank"] == banks.describe()
    )
    assert sorted(manifest["pieces"]) == names and manifest["failed"] == {}
    assert manifest["pieces"]["sub__song"]["midi"] == str(midi_folder / "sub" / "song.mid")
    for name, piece in manifest["pieces"].items():
        infos = [audio.info(tmp_path / "audios" / i / f"{name}.wav") for i in INSTRUMENTS]
        assert (
            infos[0].frames == infos[1].frames
            and infos[0].sample_rate == 44100
            and infos[0].channels == 1
        )
        assert piece["seconds"] == pytest.approx(infos[0].seconds, abs=1e-5)
        assert name in manifest["split"][piece["split"]]
    assert manifest["pieces"]["song"]["seconds"] == pytest.approx(
        1.55, abs=0.01
    )  # the pedal holds until 1.5 s
    assert summary.seconds == pytest.approx(sum(p["seconds"] for p in manifest["pieces"].values()))
    keyboard, strings = (audio.load(tmp_path / "audios" / i / "chords.wav")[0] for i in INSTRUMENTS)
    assert not np.allclose(keyboard, strings)  # two timbres of the same notes


def test_pool_is_deterministic_and_resume_renders_only_what_is_missing(
    tmp_path, midi_folder, banks, recwarn
):
    first = render.render_pairs(midi_folder, tmp_path / "a", banks, jobs=2, seed=1, progress=False)
    time.sleep(
        1.05
    )  # float WAVs from libsndfile carry a time stamp (PEAK chunk): the default PCM_16 must not
    render.render_pairs(midi_folder, tmp_path / "b", banks, jobs=1, seed=1, progress=False)
    assert (
        wavs(tmp_path / "a") == wavs(tmp_path / "b") and len(wavs(tmp_path / "a")) == 8
    )  # same bytes
    assert json.loads(first.manifest.read_text()) == json.loads(
        (tmp_path / "b" / "manifest.json").read_text()
    )  # same pieces, splits and settings
    again = render.render_pairs(midi_folder, tmp_path / "a", banks, jobs=2, seed=1, progress=False)
    assert again.rendered == [] and sorted(again.skipped) == sorted(first.rendered)
    assert (
        json.loads(again.manifest.read_text())["pieces"]
        == json.loads(first.manifest.read_text())["pieces"]
    )
    (tmp_path / "a" / "string_acoustic" / "sub__song.wav").unlink()
    write_midi(midi_folder / "new.mid", [(0.0, 0.3, 60, 90)])
    resumed = render.render_pairs(
        midi_folder, tmp_path / "a", banks, jobs=1, seed=1, progress=False
    )
    assert sorted(resumed.rendered) == ["new", "sub__song"] and len(resumed.skipped) == 3
    assert (
        wavs(tmp_path / "a")["string_acoustic/sub__song.wav"]
        == wavs(tmp_path / "b")["string_acoustic/sub__song.wav"]
    )


def test_changed_midi_or_unrecorded_audio_is_rendered_again(tmp_path, midi_folder, banks, recwarn):
    render.render_pairs(midi_folder, tmp_path / "a", banks, jobs=1, progress=False)
    write_midi(midi_folder / "song.mid", [(0.0, 2.0, 64, 90)])  # same name, other music
    again = render.render_pairs(midi_folder, tmp_path / "a", banks, jobs=1, progress=False)
    assert again.rendered == ["song"] and len(again.skipped) == 3
    assert audio.info(tmp_path / "a" / "keyboard_acoustic" / "song.wav").seconds == pytest.approx(
        2.05, abs=0.01
    )
    (tmp_path / "a" / ".render_state.json").unlink()  # as if killed before the state was saved
    assert sorted(
        render.render_pairs(midi_folder, tmp_path / "a", banks, jobs=1, progress=False).rendered
    ) == ["chords", "deep__er__run", "song", "sub__song"]


def test_bad_midi_files_are_reported_and_skipped(tmp_path, midi_folder, banks, recwarn):
    (midi_folder / "broken.mid").write_bytes((midi_folder / "song.mid").read_bytes()[:40])
    write_midi(midi_folder / "silent.mid", [], drums=[(0.0, 0.5, 36, 100)])
    summary = render.render_pairs(midi_folder, tmp_path / "audios", banks, jobs=1, progress=False)
    assert len(summary.rendered) == 4
    assert set(summary.failed) == {str(midi_folder / "broken.mid"), str(midi_folder / "silent.mid")}
    assert "broken.mid: not a readable MIDI file" in summary.failed[str(midi_folder / "broken.mid")]
    assert "silent.mid: no notes" in summary.failed[str(midi_folder / "silent.mid")]
    manifest = json.loads(summary.manifest.read_text())
    assert manifest["failed"] == summary.failed and "broken" not in manifest["pieces"]


def test_other_settings_are_not_resumed(tmp_path, midi_folder, banks, recwarn):
    render.render_pairs(midi_folder, tmp_path / "audios", banks, jobs=1, progress=False)
    with pytest.raises(
        DatasetError, match="holds audio rendered with other settings .synth differ"
    ):
        render.render_pairs(
            midi_folder,
            tmp_path / "audios",
            banks,
            SynthConfig(transpose=2),
            jobs=1,
            progress=False,
        )
    with pytest.raises(MidiError, match="no MIDI files"):
        render.render_pairs(tmp_path / "audios", tmp_path / "x", banks, jobs=1, progress=False)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 25, 101])
def test_split_is_seeded_by_piece(n):
    names = [f"p{i:03d}" for i in range(n)]
    split = render.split_pieces(names, seed=5)
    assert sorted(sum(split.values(), [])) == names
    assert split == render.split_pieces(list(reversed(names)), seed=5)
    if n >= 3:
        assert len(split["val"]) >= 1 and len(split["test"]) >= 1
    if n >= 10:
        assert len(split["train"]) == pytest.approx(0.8 * n, abs=1.01)
    if n >= 25:
        assert split != render.split_pieces(names, seed=6)


def test_cli_renders_nsynth_and_lists_failures(tmp_path, midi_folder, nsynth_folder, capsys):
    (midi_folder / "broken.mid").write_bytes(b"MThd garbage")
    out = tmp_path / "audios"
    status = main(
        [
            "--nsynth_path",
            str(nsynth_folder),
            "--midi_path",
            str(midi_folder),
            "--audios_path",
            str(out),
            "--instruments",
            "keyboard_acoustic,string_acoustic",
            "--transpose",
            "3",
            "--playback_speed",
            "2",
            "--jobs",
            "1",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1
    assert "rendered 4 pieces" in captured.out and "failed 1" in captured.out
    assert "broken.mid: not a readable MIDI file" in captured.err and "warning:" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["synth"]["transpose"] == 3 and manifest["synth"]["playback_speed"] == 2.0
    assert audio.info(out / "string_acoustic" / "song.wav").seconds == pytest.approx(
        0.8, abs=0.01
    )  # 1.5 s / 2 + release


def test_cli_default_corpus_with_soundfont_bank(tmp_path, soundfont_banks, capsys):
    cache = soundfont_banks.banks["keyboard_acoustic"].folder
    out = tmp_path / "audios"
    args = [
        "--audios_path",
        str(out),
        "--bank_cache",
        str(cache),
        "--instruments",
        "keyboard_acoustic,string_acoustic",
        "--corpus_minutes",
        "0.4",
        "--max_seconds",
        "4",
        "--jobs",
        "1",
        "--seed",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["note_bank"]["source"] == "soundfont"
        and manifest["note_bank"]["programs"]["string_acoustic"] == 48
    )
    assert len(manifest["pieces"]) == len(list((out / "midi").glob("*.mid"))) >= 1
    seconds = [p["seconds"] for p in manifest["pieces"].values()]
    assert max(seconds) == pytest.approx(4.0) and all(
        s <= 4.0 for s in seconds
    )  # cut at max_seconds
    assert (
        main(args) == 0 and "rendered 0 pieces" in capsys.readouterr().out
    )  # resumed: nothing left to do


@pytest.mark.parametrize(
    "args,message",
    [
        (["--nsynth_path", "{tmp}/none"], "none: NSynth folder not found"),
        (["--instruments", "strings_acoustic"], "did you mean 'string_acoustic'"),
        (["--soundfont", "{tmp}/bad.sf2"], "bad.sf2: FluidSynth cannot load this SoundFont"),
        (
            [
                "--midi_path",
                "{tmp}/nothing",
                "--nsynth_path",
                "{nsynth}",
                "--instruments",
                "string_acoustic",
            ],
            "nothing: folder not found",
        ),
        (["--playback_speed", "0"], "playback_speed=0.0 must be a positive number"),
        (
            ["--nsynth_path", "{nsynth}", "--program", "string_acoustic=40"],
            "--program: applies to SoundFont banks only",
        ),
    ],
)
def test_cli_bad_inputs(tmp_path, nsynth_folder, capsys, args, message):
    (tmp_path / "bad.sf2").write_bytes(b"nope" * 50)
    args = [a.format(tmp=tmp_path, nsynth=nsynth_folder) for a in args]
    assert (
        main(
            [
                "--audios_path",
                str(tmp_path / "out"),
                "--bank_cache",
                str(tmp_path / "bank"),
                "--quiet",
            ]
            + args
        )
        == 1
    )
    assert message in capsys.readouterr().err


def _dies(task):
    import os

    os._exit(3)


def test_dead_worker_is_reported(tmp_path, midi_folder, banks, monkeypatch):
    _dies.__module__, _dies.__qualname__ = (
        "timbre.data.render",
        "_render_piece",
    )  # pickled by name, found in the fork
    monkeypatch.setattr(render, "_render_piece", _dies)
    monkeypatch.setattr(pool, "pool_context", lambda: multiprocessing.get_context("fork"))
    with pytest.raises(
        TimbreError, match="a worker process died after 0 of 4 pieces .*a rerun resumes"
    ):
        render.render_pairs(midi_folder, tmp_path / "audios", banks, jobs=2, progress=False)
