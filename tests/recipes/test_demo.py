"""The demo pipeline end to end with the tiny preset: every artefact exists and is valid."""

import json

import numpy as np
import pytest
import soundfile as sf

from timbre.cli import demo
from timbre.recipes import presets

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    status = demo.main(["--preset", "tiny", "--output", str(out), "--minutes", "1", "--jobs", "2"])
    return out, status


def test_demo_writes_every_artefact(demo_run):
    out, status = demo_run
    assert status == 0
    preset = presets.PRESETS["tiny"]
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
        (name, condition) for name in presets.EVAL_SETS for condition in presets.CONDITIONS
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


class RecordedReport:
    """A report that keeps what the stages tell."""

    def __init__(self):
        self.stages, self.results = [], []

    def stage(self, number, title):
        self.stages.append((number, title))

    def done(self, what, seconds):
        self.results.append((what, seconds))


def test_the_recipe_reports_every_stage_and_prints_nothing(demo_run, capsys):
    from timbre.recipes import demo as recipe

    out, _ = demo_run
    report = RecordedReport()
    result = recipe.run(out, presets.PRESETS["tiny"], minutes=1, jobs=2, report=report)
    assert [number for number, _ in report.stages] == list(range(1, recipe.STAGES + 1))
    assert len(report.results) == recipe.STAGES and all(s >= 0 for _, s in report.results)
    assert "already trained" in report.results[3][0]
    assert capsys.readouterr().out == ""  # the command line prints; the recipe does not
    assert result.model_dir == out / "model" and result.converted[-1].name == "ode_to_joy"
    assert "| identity |" in result.summary and result.seconds > 0


def test_printed_report_lines(capsys):
    printer = demo.PrintedReport()
    printer.stage(2, "corpus: pairs")
    printer.done("3 pieces rendered", 4.4)
    assert capsys.readouterr().out == "\n[2/6] corpus: pairs\n      3 pieces rendered (4 s)\n"


def test_the_card_says_what_the_preset_trains_with():
    import dataclasses

    from timbre.recipes import pretrained

    plain = presets.PRESETS["pretrained_strings"]
    assert pretrained.augmentation_text(plain) == "no augmentation"
    assert pretrained.objective_text(plain) == "trained alone with the L1 loss (generator mode)"
    recorded = dataclasses.replace(presets.CPU, mode="gan")
    text = pretrained.augmentation_text(recorded)
    assert text.startswith("the keyboard part of 50% of the training pieces played through")
    assert "pyroomacoustics" in text and "test pieces clean" in text
    assert pretrained.objective_text(recorded) == (
        "trained against a PatchGAN discriminator with 100 x the L1 loss plus 0.2 x the "
        "spectral convergence of the linear magnitude"
    )


def test_the_demo_and_the_shipped_model_train_trial_14s_recipe():
    """The demo and ``pretrained`` record half the training pieces and add the SC term; the
    shipped model's first stage stays the unaugmented L1 recipe its weights were made with."""
    for name in ("cpu", "pretrained"):
        preset = presets.PRESETS[name]
        assert (preset.augment.chain, preset.augment.probability) == ("recorded", 0.5), name
        assert preset.train.sc_weight == 0.2, name
        assert preset.train.mixed_precision == "auto", name  # emulated bf16 is 8x slower
    first = presets.PRESETS["pretrained_strings"]
    assert first.augment is None and first.train.sc_weight == 0.0
    assert (first.train.epochs, first.corpus_minutes) == (150, 180.0)


def test_a_preset_that_starts_from_another_trains_that_one_first(tmp_path, monkeypatch):
    """``pretrained`` starts from ``pretrained_strings``: its data and model in their own
    folder, then the zoo's stages starting from that model; a given model skips the stage."""
    from timbre.recipes import demo as recipe

    calls = []
    monkeypatch.setattr(
        recipe,
        "make_data",
        lambda out, preset, jobs, seed, report: (
            calls.append(("data", out, preset)) or (out / "features", None)
        ),
    )

    def train_model(out, features, preset, minutes, report, prepare, init_from=None):
        calls.append(("train", out, features, preset, minutes, init_from))
        return out / "model"

    monkeypatch.setattr(recipe, "train_model", train_model)
    for stage in ("render_held_out", "convert_examples"):
        monkeypatch.setattr(recipe, stage, lambda *args, **kwargs: [])
    monkeypatch.setattr(recipe, "evaluate_sets", lambda *args, **kwargs: "summary")
    zoo, strings = presets.PRESETS["pretrained"], presets.PRESETS["pretrained_strings"]
    assert zoo.start_from == "pretrained_strings" and len(zoo.targets) == 3
    first = tmp_path / "pretrained_strings"
    result = recipe.run(tmp_path, zoo, minutes=7.0, jobs=1)
    assert result.model_dir == tmp_path / "model"
    assert calls == [
        ("data", first, strings),
        ("train", first, first / "features", strings, 7.0, None),
        ("data", tmp_path, zoo),
        ("train", tmp_path, tmp_path / "features", zoo, 7.0, first / "model"),
    ]
    calls.clear()
    recipe.run(tmp_path, zoo, minutes=7.0, jobs=1, init_from=tmp_path / "mine")
    assert [c[0] for c in calls] == ["data", "train"] and calls[1][-1] == tmp_path / "mine"
