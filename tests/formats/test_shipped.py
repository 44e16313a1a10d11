"""timbre.formats.shipped: the shipped model loads, converts, and matches the code's settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import sine

from timbre.errors import ModelError
from timbre.formats import shipped
from timbre.formats.model_dir import ModelDir, read_model_info
from timbre.recipes.presets import PRESETS
from timbre.settings import ModelConfig, SpectrogramConfig


def test_the_default_model_is_shipped_and_small():
    folder = shipped.resolve(None)
    assert folder == shipped.FOLDER / shipped.DEFAULT
    sizes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert sizes < 10e6  # the package's limit for models kept in git
    assert (folder / "MODEL_CARD.md").read_text().startswith("# Model card")


def test_its_config_matches_the_code():
    info = read_model_info(shipped.resolve(None))
    config = json.loads(ModelDir(info.directory).config.read_text())
    assert info.spectrogram == SpectrogramConfig()
    assert (info.origin, info.target) == ("keyboard_acoustic", "string_acoustic")
    assert ModelConfig.from_dict(config["model"]) == PRESETS["pretrained"].model
    assert np.isfinite(info.origin_level_db) and -40.0 < info.origin_level_db < -10.0


def test_it_converts_a_short_signal():
    from timbre.convert.converter import load_converter

    converter = load_converter()  # no model given: the shipped default
    tone = 0.3 * sine(261.63, 3.0, 44100)
    out = converter.convert(tone, sample_rate=44100)
    assert out.shape == tone.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert np.max(np.abs(out)) > 1e-4  # it plays something


def test_resolve_names_and_paths(tmp_path):
    assert shipped.resolve(shipped.DEFAULT) == shipped.FOLDER / shipped.DEFAULT
    assert shipped.resolve(tmp_path) == tmp_path  # a path as given
    with pytest.raises(ModelError, match="no shipped model of that name .*did you mean"):
        shipped.resolve(shipped.DEFAULT[:-1])
    assert list(shipped.available()) == sorted(shipped.available())


def test_timbre_models_lists_it(capsys):
    from timbre.cli import main

    assert main(["models"]) == 0
    assert f"{shipped.DEFAULT} (default): keyboard_acoustic -> string_acoustic" in (
        capsys.readouterr().out
    )


def test_predict_without_a_model_uses_it_and_says_so(tmp_path, capsys):
    import soundfile as sf

    from timbre.cli.predict import main
    from timbre.io import audio

    audio.save(tmp_path / "in.wav", 0.3 * sine(220.0, 2.0, 22050), 22050)
    assert main(["--input", str(tmp_path / "in.wav"), "--output", str(tmp_path / "out.wav")]) == 0
    printed = capsys.readouterr().out
    assert f"using the shipped model {shipped.DEFAULT}" in printed
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 22050 and len(out) == 44100 and np.all(np.isfinite(out))


def test_rebuild_runs_the_pretrained_preset_then_ships_it(tmp_path, monkeypatch):
    from timbre.recipes import demo, pretrained

    calls = []
    result = demo.DemoResult(tmp_path / "work" / "model", [], "summary", 1.0)

    def run(out, preset, **kwargs):
        calls.append(("run", out, preset, kwargs))
        return result

    monkeypatch.setattr(demo, "run", run)
    monkeypatch.setattr(pretrained, "package", lambda work, to: calls.append(("package", to)))
    card = tmp_path / "ship" / "MODEL_CARD.md"
    monkeypatch.setattr(pretrained, "write_card", lambda work, to: card)
    got = pretrained.rebuild(tmp_path / "work", minutes=5.0, jobs=3, destination=tmp_path / "ship")
    assert got == (result, card)
    (_, out, preset, kwargs), package = calls
    assert out == tmp_path / "work" and preset == PRESETS["pretrained"]
    assert kwargs["minutes"] == 5.0 and kwargs["jobs"] == 3
    assert package == ("package", tmp_path / "ship")
