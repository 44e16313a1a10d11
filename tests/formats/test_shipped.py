"""timbre.formats.shipped: the shipped model loads, converts, and matches the code's settings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import sine

from timbre.errors import ConfigError, ModelError
from timbre.formats import instruments, shipped
from timbre.formats.model_dir import ModelDir, read_model_info
from timbre.recipes.presets import PRESETS, ZOO_TARGETS
from timbre.settings import ModelConfig, SpectrogramConfig, TrainConfig


def test_the_default_model_is_shipped_and_small():
    folder = shipped.resolve(None)
    assert folder == shipped.FOLDER / shipped.DEFAULT
    sizes = sum(p.stat().st_size for p in shipped.FOLDER.rglob("*") if p.is_file())
    assert sizes < 20e6  # the package's limit for all the models kept in git
    assert (folder / "MODEL_CARD.md").read_text().startswith("# Model card")


@pytest.mark.parametrize("name", list(shipped.available()))
def test_every_shipped_model_runs_on_onnx_runtime_like_keras(name):
    """Its generator.onnx (float16 weights) is the copy of its generator.keras, and the two
    runtimes convert alike within the budget of 1e-3 (relative RMS of the audio)."""
    from timbre.convert.backends import choose_backend
    from timbre.convert.converter import load_converter

    info = read_model_info(shipped.resolve(name))
    assert info.generator_onnx is not None and choose_backend(info) == "onnx"
    tone = 0.3 * sine(261.63, 3.0, 44100) + 0.1 * sine(523.25, 3.0, 44100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stale copy would warn and fall back to Keras
        onnx = load_converter(name)
    assert onnx.backend == "onnx"
    keras = load_converter(name, backend="keras")
    a, b = onnx.convert(tone, sample_rate=44100), keras.convert(tone, sample_rate=44100)
    assert np.sqrt(np.mean((a - b) ** 2)) < 1e-3 * np.sqrt(np.mean(b**2))


def test_predict_without_a_model_imports_no_tensorflow(tmp_path):
    """The first command a user runs: the shipped model on ONNX Runtime, TensorFlow never
    imported (a fresh interpreter)."""
    from timbre.io import audio

    audio.save(tmp_path / "in.wav", 0.3 * sine(220.0, 2.0, 44100), 44100)
    code = (
        "import json, sys\n"
        "from timbre.cli.predict import main\n"
        "status = main(['--input', sys.argv[1], '--output', sys.argv[2], '--quiet'])\n"
        "print(json.dumps([status, sorted(m for m in ('tensorflow', 'keras') if m in "
        "sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "in.wav"), str(tmp_path / "out.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []]
    assert (tmp_path / "out.wav").is_file()


SHIPPED_TARGETS = [
    (name, target)
    for name, folder in shipped.available().items()
    for target in (read_model_info(folder).targets or (read_model_info(folder).target,))
]


@pytest.mark.parametrize("name", list(shipped.available()))
def test_its_config_matches_the_code(name):
    """Each shipped model's config.json holds the settings the code would train it with."""
    info = read_model_info(shipped.resolve(name))
    config = json.loads(ModelDir(info.directory).config.read_text())
    preset = PRESETS["pretrained"]
    assert info.spectrogram == SpectrogramConfig() == preset.spectrogram
    assert info.origin == "keyboard_acoustic" and info.target == preset.targets[0]
    assert info.targets == preset.targets == ZOO_TARGETS
    assert ModelConfig.from_dict(config["model"]) == preset.model
    # trained in bf16 on a CPU that computes it, which the preset's "auto" chooses there
    train = TrainConfig.from_dict(config["train"])
    assert train.mixed_precision in ("bf16", "auto") and preset.train.mixed_precision == "auto"
    assert dataclasses.replace(train, mixed_precision="auto") == preset.train
    assert np.isfinite(info.origin_level_db) and -40.0 < info.origin_level_db < -10.0


@pytest.mark.parametrize(("name", "target"), SHIPPED_TARGETS)
def test_every_shipped_target_converts_a_short_signal(name, target):
    """On ONNX Runtime (the default backend), by its short name: finite audio of the input's
    length, which differs from one target to the next."""
    from timbre.convert.converter import load_converter

    converter = load_converter(name, target=instruments.short_name(target))
    assert converter.backend == "onnx" and converter.target == target
    tone = 0.3 * sine(261.63, 1.5, 44100) + 0.1 * sine(392.0, 1.5, 44100)
    out = converter.convert(tone, sample_rate=44100)
    assert out.shape == tone.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert np.max(np.abs(out)) > 1e-4  # it plays something
    others = [t for n, t in SHIPPED_TARGETS if n == name and t != target]
    for other in others[:1]:
        theirs = load_converter(name, target=other).convert(tone, sample_rate=44100)
        assert np.sqrt(np.mean((out - theirs) ** 2)) > 0.05 * np.sqrt(np.mean(out**2))


def test_the_default_converts_to_strings_and_names_what_it_lacks():
    from timbre.convert.converter import load_converter

    assert load_converter().target == "string_acoustic"
    with pytest.raises(ConfigError, match=r"converts to strings \(string_acoustic\), guitar"):
        load_converter(target="flute")


def test_resolve_names_and_paths(tmp_path):
    assert shipped.resolve(shipped.DEFAULT) == shipped.FOLDER / shipped.DEFAULT
    assert shipped.resolve(tmp_path) == tmp_path  # a path as given
    with pytest.raises(ModelError, match="no shipped model of that name .*did you mean"):
        shipped.resolve(shipped.DEFAULT[:-1])
    for former, now in shipped.RENAMED.items():  # scripts that name it as before still work
        assert shipped.resolve(former) == shipped.FOLDER / now
    assert list(shipped.available()) == sorted(shipped.available())


def test_timbre_models_lists_it_with_its_targets(capsys):
    from timbre.cli import main

    assert main(["models"]) == 0
    printed = capsys.readouterr().out
    assert (
        f"{shipped.DEFAULT} (default): keyboard_acoustic -> strings (string_acoustic), "
        "guitar (guitar_acoustic), synth_lead (synth_lead_synthetic)"
    ) in printed
    assert "--target strings | guitar | synth_lead (default strings)" in printed


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
    given = tmp_path / "strings_model"
    for start_from in (None, given):
        calls.clear()
        got = pretrained.rebuild(
            tmp_path / "work",
            minutes=5.0,
            jobs=3,
            destination=tmp_path / "ship",
            start_from=start_from,
        )
        assert got == (result, card)
        (_, out, preset, kwargs), package = calls
        assert out == tmp_path / "work" and preset == PRESETS["pretrained"]
        assert kwargs["minutes"] == 5.0 and kwargs["jobs"] == 3
        assert kwargs["init_from"] == start_from  # None: demo.run trains the strings stage
        assert package == ("package", tmp_path / "ship")


def test_predict_converts_to_guitar_by_its_short_name(tmp_path, capsys):
    """``predict.py --target guitar`` on the default model: another instrument than its default
    strings, the same output as the NSynth name gives (which the ledger takes as the same run)."""
    import soundfile as sf

    from timbre.cli.predict import main
    from timbre.io import audio

    audio.save(tmp_path / "in.wav", 0.3 * sine(196.0, 2.0, 44100), 44100)
    args = ["--input", str(tmp_path / "in.wav"), "--quiet"]
    assert main([*args, "--output", str(tmp_path / "strings.wav")]) == 0
    assert main([*args, "--output", str(tmp_path / "guitar.wav"), "--target", "guitar"]) == 0
    printed = capsys.readouterr().out
    assert "converting to guitar (guitar_acoustic)" in printed
    assert main([*args, "--output", str(tmp_path / "g2.wav"), "--target", "guitar_acoustic"]) == 0
    strings, guitar, again = (
        sf.read(tmp_path / f)[0] for f in ("strings.wav", "guitar.wav", "g2.wav")
    )
    assert len(guitar) == len(strings) == 88200 and np.all(np.isfinite(guitar))
    np.testing.assert_array_equal(guitar, again)
    assert np.sqrt(np.mean((guitar - strings) ** 2)) > 0.05 * np.sqrt(np.mean(strings**2))
