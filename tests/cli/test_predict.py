"""predict.py in-process: files, folders and every error branch.

Uses a tiny model dir made in tmp_path.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import sine
from helpers import conv_generator, identity_generator, write_model

from timbre.cli import predict
from timbre.errors import AudioError
from timbre.formats import ledger
from timbre.settings import SpectrogramConfig

SMALL = SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=128, n_bins=32, tile_frames=32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model(
        tmp_path_factory.mktemp("models") / "identity", identity_generator(SMALL), SMALL
    )


def write(path, seconds=1.0, rate=16000, channels=1, amplitude=0.4):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack(
        [sine(440 * (c + 1), seconds, rate, amplitude) for c in range(channels)], axis=1
    )
    sf.write(path, data, rate)
    return path


def test_converts_a_file_with_plot_and_rate(tmp_path, model_dir, capsys):
    source = write(tmp_path / "in.flac", 2.5, 44100, channels=2)
    status = predict.main(
        [
            "--model",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out" / "x.wav"),
            "--sample_rate",
            "22050",
            "--plot",
            "--batch_size",
            "3",
            "--precision",
            "bfloat16",
        ]
    )
    assert status == 0, capsys.readouterr().err
    out, rate = sf.read(tmp_path / "out" / "x.wav")
    assert rate == 22050 and len(out) == round(2.5 * 22050) and np.all(np.isfinite(out))
    assert (tmp_path / "out" / "x.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "x.wav (2.50 s at 22050 Hz); level " in printed and "; no limiting; plot " in printed


def test_griffin_lim_phase_and_generator_file(tmp_path, model_dir, capsys):
    source = write(tmp_path / "in.wav", 1.3)
    status = predict.main(
        [
            "--model",
            str(model_dir / "generator.keras"),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out.ogg"),
            "--phase",
            "griffinlim",
            "--iterations",
            "4",
        ]
    )
    assert status == 0, capsys.readouterr().err
    out, rate = sf.read(tmp_path / "out.ogg")
    assert rate == 16000 and len(out) == int(1.3 * 16000)


def test_converts_a_folder(tmp_path, model_dir, capsys):
    write(tmp_path / "in" / "a.wav", 0.5, 48000)
    write(tmp_path / "in" / "sub" / "b.flac", 3.2, 22050, channels=2)
    write(tmp_path / "in" / ".hidden.wav", 0.5)
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    status = predict.main(
        [
            "--model",
            str(model_dir),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert status == 0, capsys.readouterr().err
    a, rate_a = sf.read(tmp_path / "out" / "a.wav")
    b, rate_b = sf.read(tmp_path / "out" / "sub" / "b.wav")
    assert (rate_a, len(a), rate_b, len(b)) == (48000, 24000, 22050, round(3.2 * 22050))
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.wav", "b.wav", "sub"]


def test_folder_with_a_bad_file_converts_the_others(tmp_path, model_dir, capsys):
    write(tmp_path / "in" / "good.wav", 0.5)
    (tmp_path / "in" / "bad.wav").write_text("not audio")
    status = predict.main(
        [
            "--model",
            str(model_dir),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and "bad.wav: not a readable audio file" in err and "1 of 2 files" in err
    assert (tmp_path / "out" / "good.wav").exists() and not (tmp_path / "out" / "bad.wav").exists()


def test_existing_output_needs_force(tmp_path, model_dir, capsys):
    source = write(tmp_path / "in.wav", 0.5)
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    args = ["--model", str(model_dir), "--input", str(source), "--output", str(target)]
    assert predict.main(args) == 1
    assert "out.wav: already exists; use --force to overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"old"
    assert predict.main(args + ["--force"]) == 0
    assert len(sf.read(target)[0]) == 8000


def test_output_folder_for_a_file(tmp_path, model_dir):
    source = write(tmp_path / "song.aiff", 0.5)
    (tmp_path / "out").mkdir()
    assert (
        predict.main(
            ["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "out")]
        )
        == 0
    )
    assert sf.info(tmp_path / "out" / "song.wav").frames == 8000


def test_silent_input_warns_but_converts(tmp_path, model_dir, capsys):
    source = tmp_path / "silence.wav"
    sf.write(source, np.zeros(4000, dtype=np.float32), 16000)
    assert (
        predict.main(
            ["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "o.wav")]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "silent input, level unchanged" in captured.out
    assert sf.info(tmp_path / "o.wav").frames == 4000


def test_loud_output_is_reported_as_limited(tmp_path, capsys):
    loud = write_model(tmp_path / "loud", conv_generator(SMALL, offset=0.3), SMALL)
    source = write(tmp_path / "in.wav", 2.0, amplitude=0.9)
    args = ["--model", str(loud), "--input", str(source), "--output", str(tmp_path / "o.wav")]
    assert predict.main(args) == 0
    assert "; limited by up to " in capsys.readouterr().out
    assert np.max(np.abs(sf.read(tmp_path / "o.wav")[0])) <= 1.0


def test_level_line_and_keep_level(tmp_path, capsys):
    """A quiet file is converted at the model's training level and written back at its own
    level, or at the training level with --keep_level off; the line says which.
    """
    model = write_model(tmp_path / "model", identity_generator(SMALL), SMALL, origin_level_db=-20.0)
    source = write(tmp_path / "in.wav", 2.0, amplitude=0.01)  # a sine: -43.0 dBFS RMS
    base = ["--model", str(model), "--input", str(source), "--output"]
    assert predict.main(base + [str(tmp_path / "on.wav")]) == 0
    line = capsys.readouterr().out
    assert "level -43.0 dBFS, converted at -20.0 dBFS (+23.0 dB), written at -43.0 dBFS" in line
    assert predict.main(base + [str(tmp_path / "off.wav"), "--keep_level", "off"]) == 0
    assert "(+23.0 dB), written at -20.0 dBFS" in capsys.readouterr().out
    on, off = (sf.read(tmp_path / f"{name}.wav")[0] for name in ("on", "off"))
    middle = slice(4000, -4000)
    assert np.max(np.abs(on[middle])) == pytest.approx(0.01, rel=0.02)
    assert np.max(np.abs(off[middle])) == pytest.approx(0.01 * 10 ** (23.0 / 20), rel=0.02)


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing_input", "missing.wav: input not found"),
        ("unreadable_input", "text.wav: not a readable audio file"),
        ("not_a_model", "not a model"),
        ("empty_folder", "no audio files"),
        ("folder_to_file", "is a file (expected a folder"),
        ("bad_format", "unknown audio format '.xyz'"),
        ("uncreatable_folder", "cannot create the output folder"),
    ],
)
def test_errors(tmp_path, model_dir, capsys, case, message):
    source, model, target = write(tmp_path / "in.wav", 0.3), model_dir, tmp_path / "out.wav"
    if case == "missing_input":
        source = tmp_path / "missing.wav"
    elif case == "unreadable_input":
        source = tmp_path / "text.wav"
        source.write_text("hello")
    elif case == "not_a_model":
        model = tmp_path
    elif case == "empty_folder":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "folder_to_file":
        source = tmp_path / "folder"
        write(source / "a.wav", 0.3)
        target = tmp_path / "in.wav"
    elif case == "bad_format":
        target = tmp_path / "out.xyz"
    elif case == "uncreatable_folder":
        target = tmp_path / "in.wav" / "sub" / "out.wav"
    status = predict.main(["--model", str(model), "--input", str(source), "--output", str(target)])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out.wav").exists()


def test_bad_flags_exit_2(tmp_path, model_dir):
    with pytest.raises(SystemExit) as info:
        predict.main(
            ["--model", str(model_dir), "--input", "x", "--output", "y", "--phase", "magic"]
        )
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        predict.main(
            ["--model", str(model_dir), "--input", "x", "--output", "y", "--batch_size", "0"]
        )


def test_output_folder_inside_the_input_folder_is_not_input(tmp_path, model_dir):
    write(tmp_path / "songs" / "a.wav", 0.4)
    args = [
        "--model",
        str(model_dir),
        "--input",
        str(tmp_path / "songs"),
        "--output",
        str(tmp_path / "songs" / "out"),
    ]
    assert predict.main(args) == 0
    assert predict.main(args + ["--force"]) == 0  # the rerun converts a.wav again, not out/a.wav
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "songs").rglob("*.wav")
    ) == ["songs/a.wav", "songs/out/a.wav"]


def test_the_resume_record_keeps_what_this_command_finished(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for name in ("a", "b"):
        write(source / f"{name}.wav")
    plan = ledger.plan_paths(source, out, plot=False, subtype="FLOAT")
    assert [o for _, o, _ in plan] == [out / "a.wav", out / "b.wav"]
    folder = ledger.output_folder(source, out)
    generator = tmp_path / "model" / "generator.keras"
    record = ledger.Ledger(folder, ledger.model_fingerprint(generator, {"phase": "input"}))
    todo, fingerprints, skipped = record.todo(plan, force=False)
    assert len(todo) == 2 and skipped == 0
    record.start(out / "a.wav", fingerprints[0])
    (out / "a.wav").write_bytes(b"converted")
    assert (folder / ledger.LEDGER).is_file()
    again = ledger.Ledger(folder, ledger.model_fingerprint(generator, {"phase": "input"}))
    assert again.todo(plan, force=False)[2] == 1  # a.wav is complete and kept
    other = ledger.Ledger(folder, ledger.model_fingerprint(generator, {"phase": "griffinlim"}))
    with pytest.raises(AudioError, match="a.wav: already exists; use --force to overwrite"):
        other.todo(plan, force=False)
    again.finish([o for _, o, _ in plan])
    assert not (folder / ledger.LEDGER).exists()


def test_the_level_line_reports_the_written_files_level(tmp_path, capsys):
    """A model that makes everything ~5 dB quieter (as the shipped one makes strings quieter
    than the keyboard it gets): the file is written at the input's level, and the line's
    "written at" is the written file's level as measured (it used to print the input's level
    for a file 4.9 dB quieter).
    """
    import keras

    from timbre.dsp.level import active_level_db

    tiles = keras.Input((SMALL.n_bins, SMALL.tile_frames, 1))
    quieter = keras.Model(tiles, keras.layers.Rescaling(1.0, offset=-0.1)(tiles))
    model = write_model(tmp_path / "quieter", quieter, SMALL)
    source = write(tmp_path / "in.wav", 3.0, amplitude=0.05)
    assert predict.main(["--model", str(model), "--input", str(source), "--output",
                         str(tmp_path / "out.wav")]) == 0  # fmt: skip
    written = active_level_db(sf.read(tmp_path / "out.wav", dtype="float32")[0], 16000)
    level = active_level_db(sf.read(source, dtype="float32")[0], 16000)
    assert abs(written - level) < 0.5
    assert f"written at {written:.1f} dBFS" in capsys.readouterr().out
