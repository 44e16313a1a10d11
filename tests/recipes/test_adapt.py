"""timbre adapt on a tiny model: a stand-in "my piano" (FluidSynth's second piano, programs
the pool plays differently) becomes pairs, the model trains from its weights on them mixed
with generated music, and the held-out recordings score it before and after."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SMALL

from timbre.data import notebank
from timbre.data.fluid import PieceSynthesizer
from timbre.data.midi import Score
from timbre.data.own import OwnPairsConfig
from timbre.errors import ConfigError
from timbre.formats import audio_folder
from timbre.formats.model_dir import ModelDir, read_model_info
from timbre.io import audio
from timbre.recipes.adapt import SYNTHETIC, AdaptConfig, adapt, excerpt_panels
from timbre.settings import ModelConfig, SynthConfig, TrainConfig

TINY = ModelConfig(base_filters=4, depth=5)
CONFIG = AdaptConfig(
    minutes=5.0,
    epochs=3,
    steps_per_epoch=4,
    gen_lr=2e-3,
    new_target_lr=3e-3,
    mix_minutes=0.5,
    min_minutes=0.05,
    pairs=OwnPairsConfig(segment_seconds=3.0, held_out_share=0.34),
)


def _base(folder):
    """An untrained tiny keyboard -> strings model directory."""
    import keras

    from timbre.tf.networks import build_generator

    keras.utils.set_random_seed(0)
    generator = build_generator(TINY, SMALL.n_bins, SMALL.tile_frames)
    files = ModelDir(folder)
    folder.mkdir(parents=True)
    files.write_config(
        {
            "version": 1,
            "mode": "generator",
            "origin": "keyboard_acoustic",
            "target": "string_acoustic",
            "origin_level_db": -24.0,
            "features_path": None,
            "spectrogram": SMALL.to_dict(),
            "model": TINY.to_dict(),
            "train": TrainConfig(batch_size=4, mixed_precision="bf16").to_dict(),
        }
    )
    generator.save(files.generator)
    return folder


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    piano = PieceSynthesizer(notebank.default_soundfont(), 1, SynthConfig(sample_rate=22050))
    for k in range(3):
        rng = np.random.default_rng(k)
        notes = [(0.5 * i, 0.5 * i + 0.45, int(rng.integers(50, 80)), 90) for i in range(18)]
        audio.save(
            root / "my_piano" / f"take{k}.flac", piano.render(Score.from_notes(notes)), 22050
        )
    report = adapt(root / "my_piano", root / "out", _base(root / "base"), CONFIG, progress=False)
    return root, report


def test_adapt_writes_a_model_and_a_before_after_report(adapted):
    root, report = adapted
    text = report.read_text()
    assert "| strings | before |" in text and "| strings | after |" in text
    assert "minutes of your music used for training" in text
    model = ModelDir(root / "out" / "model")
    assert model.generator.is_file()
    config = json.loads(model.config.read_text())
    assert (config["target"], config["train"]["gen_lr"]) == ("string_acoustic", 2e-3)
    assert config["train"]["mixed_precision"] == "auto"  # not the base's bf16: this machine's
    before, after = (
        json.loads((root / "out" / "eval" / name / "strings" / "results.json").read_text())
        for name in ("before", "after")
    )
    # the untrained start is far off; a few steps on the pairs bring it nearer the target
    assert after["mean"]["model"]["lsd_db"] < before["mean"]["model"]["lsd_db"]
    assert 0.0 <= after["mean"]["model"]["notes_kept"] <= 1.0


def test_generated_music_is_mixed_into_training_only(adapted):
    root, _ = adapted
    data = audio_folder.read(root / "out" / "audios")
    synthetic = [p for p in data["pieces"] if p.startswith(SYNTHETIC)]
    assert synthetic and all(data["pieces"][p]["split"] == "train" for p in synthetic)
    held = [p for p, e in data["pieces"].items() if e["split"] == "test"]
    assert held and all(p.startswith("take") for p in held)
    assert len({p.split("__")[0] for p in held}) == 1  # one recording held out, whole


def test_a_rerun_reuses_every_stage(adapted, capsys):
    root, report = adapted
    stamp = ModelDir(root / "out" / "model").generator.stat().st_mtime_ns
    adapt(root / "my_piano", root / "out", root / "base", CONFIG, progress=False)
    assert ModelDir(root / "out" / "model").generator.stat().st_mtime_ns == stamp


@pytest.fixture(scope="module")
def cello(tmp_path_factory):
    """A stand-in "my cello" (TimGM6mb's cello, program 42) adapted into a new target."""
    root = tmp_path_factory.mktemp("cello")
    player = PieceSynthesizer(notebank.default_soundfont(), 42, SynthConfig(sample_rate=22050))
    for k in range(3):
        rng = np.random.default_rng(10 + k)
        notes = [(0.6 * i, 0.6 * i + 0.55, int(rng.integers(43, 70)), 90) for i in range(15)]
        audio.save(root / "my_cello" / f"bow{k}.wav", player.render(Score.from_notes(notes)), 22050)
    base = _base(root / "base")
    report = adapt(
        root / "my_cello", root / "out", base, CONFIG, instrument="cello", progress=False
    )
    return root, report


def test_recordings_of_a_new_target_make_a_model_that_plays_it(cello):
    root, report = cello
    config = json.loads(ModelDir(root / "out" / "model").config.read_text())
    assert (config["origin"], config["target"]) == ("keyboard_acoustic", "cello")
    assert config["train"]["gen_lr"] == 3e-3  # a new target's rate, not the base targets'
    text = report.read_text()
    assert "| cello | after |" in text and "| cello | before |" not in text
    assert "has no cello" in text
    data = audio_folder.read(root / "out" / "audios")
    assert data["instruments"] == ["cello", "keyboard_acoustic"]
    assert not [p for p in data["pieces"] if p.startswith(SYNTHETIC)]  # nothing mixed in
    pool = {label for label in data["players"]["keyboard_acoustic"]}
    assert not any(label.startswith("sf_GMbank:") for label in pool)  # the held-out piano
    drawn = {entry["players"]["keyboard_acoustic"] for entry in data["pieces"].values()}
    assert drawn <= pool and len(drawn) > 1  # one piano per piece, not one for all
    after = json.loads((root / "out" / "eval" / "after" / "cello" / "results.json").read_text())
    assert set(after["mean"]) >= {"model", "identity"}
    assert (root / "out" / "before_after.png").stat().st_size > 10_000


def test_the_excerpt_converts_the_piano_side_into_the_recordings_side(cello):
    root, _ = cello
    out = root / "out"
    piece = next(
        p for p, e in audio_folder.read(out / "audios")["pieces"].items() if e["split"] == "test"
    )
    panels = excerpt_panels(out / "audios", piece, root / "base", out / "model", "cello")
    assert [label for label, _ in panels] == [
        "input: a rendered piano",
        "after: adapted",
        "target: your recording",
    ]
    rate = read_model_info(out / "model").spectrogram.sample_rate
    for (_, samples), instrument in zip(panels[::2], ("keyboard_acoustic", "cello")):
        expected, _ = audio.load(audio_folder.piece_path(out / "audios", instrument, piece), rate)
        np.testing.assert_allclose(samples, expected[: len(samples)])


def test_bad_instrument_names_and_folders_are_refused(tmp_path):
    base = _base(tmp_path / "base")
    (tmp_path / "rec").mkdir()
    for name, pattern in (("piano", "means the origin"), ("My_Cello", "lowercase")):
        with pytest.raises(ConfigError, match=pattern):
            adapt(tmp_path / "rec", tmp_path / "out", base, CONFIG, instrument=name)
    with pytest.raises(ConfigError, match="inside the recordings"):
        adapt(tmp_path / "rec", tmp_path / "rec" / "out", base, CONFIG)
    with pytest.raises(ConfigError, match="holds the recordings"):
        adapt(tmp_path / "rec", tmp_path, base, CONFIG)
    assert not (tmp_path / "out").exists()
