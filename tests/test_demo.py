"""The demo pipeline end to end with the tiny preset: every artefact exists and is valid."""

import json

import numpy as np
import pytest
import soundfile as sf

from timbre.cli import demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    status = demo.main(["--preset", "tiny", "--output", str(out), "--minutes", "1", "--jobs", "2"])
    return out, status


def test_demo_writes_every_artefact(demo_run):
    out, status = demo_run
    assert status == 0
    preset = demo.PRESETS["tiny"]
    rate = preset.spectrogram.sample_rate
    converted = sorted(p for p in (out / "converted").iterdir() if p.is_dir())
    assert "ode_to_joy" in [p.name for p in converted] and len(converted) >= 2
    for folder in converted:
        lengths = set()
        for name in ("input", "converted", "target"):
            samples, file_rate = sf.read(folder / f"{name}.wav")
            assert file_rate == rate and samples.ndim == 1 and np.all(np.isfinite(samples))
            assert np.max(np.abs(samples)) > 1e-3  # not silent
            lengths.add(len(samples))
        assert len(lengths) == 1  # converted has exactly the input's length, the pair is aligned
        assert (folder / "spectrograms.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "model" / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "model" / "generator.keras").stat().st_size > 0
    written = sorted((out / "eval").rglob("results.json"))  # eval/<set>/<condition>/results.json
    assert {path.relative_to(out / "eval").parts[:2] for path in written} == {
        (name, condition) for name in demo.EVAL_SETS for condition in demo.CONDITIONS
    }
    for path in written:
        results = json.loads(path.read_text())
        main_table = path.parent == out / "eval" / "training_pianos" / "clean"
        systems = ("model", "identity", "oracle") + (("model_griffinlim",) if main_table else ())
        assert set(results["mean"]) == set(systems), path  # Griffin-Lim on the main table only
        for system in systems:
            assert np.isfinite(results["mean"][system]["lsd_db"]), (path, system)
        assert results["mean"]["oracle"]["lsd_db"] < results["mean"]["identity"]["lsd_db"]
        assert (path.parent / "eval.png").read_bytes()[:8] == PNG_MAGIC
        assert "| identity |" in (path.parent / "results.md").read_text()


def test_second_run_reuses_everything(demo_run, capsys):
    out, _ = demo_run
    kept = [
        out / "model" / "generator.keras",
        out / "converted" / "ode_to_joy" / "converted.wav",
        *sorted((out / "eval").rglob("results.json")),
    ]
    before = [path.stat().st_mtime_ns for path in kept]
    assert (
        demo.main(["--preset", "tiny", "--output", str(out), "--minutes", "1", "--jobs", "2"]) == 0
    )
    printed = capsys.readouterr().out
    assert "already trained" in printed and "0 pieces rendered" in printed
    assert "of the identity-to-oracle gap" in printed
    assert len(kept) > 2  # the evaluation results are among the files kept
    assert [path.stat().st_mtime_ns for path in kept] == before  # evaluation reused, not rerun
