"""One model, several targets: the conditioned networks, the balanced pipeline, training,
resuming, exporting, converting to each target and scoring each one.

A tiny GAN (32x32 tiles, base_filters=4, depth=5) is trained once on keys -> strings, guitar
on features made in tmp_path; the tests that only read it share it.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from helpers import SMALL_SPEC, TINY_MODEL, sine, write_features_manifest

from timbre.dsp.stft import log_spectrogram
from timbre.dsp.tiling import tile
from timbre.errors import ConfigError, ModelError
from timbre.formats.model_dir import ModelDir, read_model_info
from timbre.io import audio
from timbre.io.atomic import save_npy
from timbre.settings import TrainConfig

FAST = TrainConfig(batch_size=4, epochs=2, steps_per_epoch=3, seed=3)
SPLIT = {"train": ["p0", "p1", "p2", "p3"], "val": ["p4"], "test": ["p5"]}
HARMONICS = {"keys": (1.0, 0.0), "strings": (0.3, 0.0), "guitar": (0.0, 0.4)}  # 2nd, 3rd
TARGETS = ("strings", "guitar")


def make_features(root):
    """Aligned audio of three instruments (the same notes, other harmonics) and their tiles."""
    features, audios = root / "features", root / "audios"
    pieces = {}
    for number, piece in enumerate(p for members in SPLIT.values() for p in members):
        base = 220.0 * 2 ** (number / 12)
        for name, (second, third) in HARMONICS.items():
            rate = SMALL_SPEC.sample_rate
            wave = sine(base, 1.0, rate, 0.4) + sine(2 * base, 1.0, rate, 0.2 * second)
            wave = wave + sine(3 * base, 1.0, rate, 0.2 * third)
            audio.save(audios / name / f"{piece}.wav", wave, rate)
            tiles = tile(log_spectrogram(wave, SMALL_SPEC)[0], SMALL_SPEC.tile_frames)
            save_npy(features / name / f"{piece}.npy", tiles.astype(np.float16))
        split = next(s for s, members in SPLIT.items() if piece in members)
        pieces[piece] = {"n_tiles": len(tiles), "split": split}
    return write_features_manifest(
        features, SMALL_SPEC, pieces, list(HARMONICS), audios_path=audios
    )


def _train(features, model_dir, targets=TARGETS, **kwargs):
    from timbre.tf.fit import train

    kwargs.setdefault("config", FAST)
    return train(
        features, model_dir, "keys", list(targets), model=TINY_MODEL, progress=False, **kwargs
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("multitarget")
    features = make_features(root)
    config = dataclasses.replace(FAST, gen_lr=1e-2)  # six steps that move the FiLM weights
    return features, _train(features, root / "model", mode="gan", config=config)


# --- The networks.


def test_the_conditioned_generator_loads_in_safe_mode_and_is_deterministic(tmp_path):
    import keras

    from timbre.tf.networks import build_discriminator, build_generator

    generator = build_generator(TINY_MODEL, 32, 32, n_targets=3)
    assert [tuple(i.shape[1:]) for i in generator.inputs] == [(32, 32, 1), (3,)]
    rng = np.random.default_rng(0)
    for layer in generator.layers:  # FiLM starts at zero: give it something to say
        if layer.name.endswith(("_gamma", "_beta")):
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    tiles = rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    one_hot = np.eye(3, dtype="float32")

    def run(model, k):
        return np.asarray(model([tiles, np.repeat(one_hot[k : k + 1], 2, 0)], training=False))

    outputs = [run(generator, k) for k in range(3)]
    assert not np.allclose(outputs[0], outputs[1]) and not np.allclose(outputs[1], outputs[2])
    np.testing.assert_array_equal(run(generator, 1), outputs[1])
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    np.testing.assert_allclose(run(loaded, 2), outputs[2], atol=1e-6)
    discriminator = build_discriminator(TINY_MODEL, 32, 32, n_targets=3)
    assert [tuple(i.shape[1:]) for i in discriminator.inputs] == [(32, 32, 1)] * 2 + [(3,)]
    assert len(build_generator(TINY_MODEL, 32, 32).inputs) == 1  # one target: as always
    with pytest.raises(ConfigError, match="n_targets=0"):
        build_generator(TINY_MODEL, 32, 32, n_targets=0)


# --- The data.


def test_every_step_holds_each_target_in_turn(tmp_path):
    """Slot j of step b is target (j + b) mod T, every epoch is reproducible, and validation holds
    every target's pairs."""
    import tensorflow as tf

    from timbre.tf.pipeline import open_data, train_data, val_data
    from timbre.tf.run import prepare

    features = make_features(tmp_path)
    config = dataclasses.replace(FAST, batch_size=3)
    run, manifest = prepare(
        features, tmp_path / "m", "keys", list(TARGETS), "gan", TINY_MODEL, config, False, False
    )
    data = open_data(run, manifest)
    batches = list(train_data(run, data, range(0, 2), 4).as_numpy_iterator())
    assert len(batches) == 8
    for b, ((origin, condition), target) in enumerate(batches):
        which = np.argmax(condition, axis=1)
        np.testing.assert_array_equal(which, (np.arange(3) + b % 4) % 2)
        assert condition.sum() == 3 and origin.shape == target.shape == (3, 32, 32, 1)
    again = list(train_data(run, data, range(1, 2), 4).as_numpy_iterator())
    for got, want in zip(again, batches[4:]):
        np.testing.assert_array_equal(got[0][0], want[0][0])
        np.testing.assert_array_equal(got[1], want[1])
    val = list(val_data(run, data, tf.distribute.get_strategy()))
    labels = np.concatenate([np.argmax(c, axis=1) for (_, c), _ in val])
    assert sorted(set(labels.tolist())) == [0, 1]  # every target's validation pairs
    assert (labels == 0).sum() == (labels == 1).sum() == len(data.val[0])


def test_a_mixed_pair_is_a_real_pair_of_its_target(tmp_path):
    """Tiles hold codes (piece, tile): the origin and target of each slot are tile i of one piece
    and the target tile comes from that slot's target instrument."""
    from helpers import write_feature_store

    from timbre.tf.pipeline import open_data, train_data
    from timbre.tf.run import prepare

    def fill(instrument, piece, n_tiles):
        code = {"keys": 0, "strings": 1, "guitar": 2}[instrument]
        values = (int(piece[1:]) * 10 + np.arange(n_tiles) + code * 0.25) / 100
        return np.broadcast_to(values[:, None, None], (n_tiles, 32, 32))

    pieces = {f"p{i}": (3, "train") for i in range(4)} | {"p9": (2, "val")}
    features = write_feature_store(
        tmp_path / "f", pieces, SMALL_SPEC, instruments=list(HARMONICS), fill=fill
    )
    config = dataclasses.replace(FAST, batch_size=4)
    run, manifest = prepare(
        features, tmp_path / "m", "keys", list(TARGETS), "gan", TINY_MODEL, config, False, False
    )
    data = open_data(run, manifest)
    loaded = train_data(run, data, range(0, 1), 3)
    for (origin, condition), target in loaded.as_numpy_iterator():
        which = np.argmax(condition, axis=1)
        shift = (target[:, 0, 0, 0] - origin[:, 0, 0, 0]) * 100  # the instrument code
        np.testing.assert_allclose(shift, 0.25 * (which + 1), atol=0.02)


# --- Training.


def test_the_model_directory_records_the_targets_and_reports_each(trained):
    from timbre.tf.checkpoints import read_history

    features, result = trained
    files = ModelDir(result.model_dir)
    saved = json.loads(files.config.read_text())
    assert saved["targets"] == list(TARGETS) and saved["target"] == "strings"
    info = read_model_info(result.model_dir)
    assert info.targets == TARGETS and info.target == "strings"
    history = read_history(result.model_dir)
    assert len(history) == 2
    for key in ("gen_l1_strings", "gen_l1_guitar", "val_gen_l1_strings", "val_gen_l1_guitar"):
        assert all(np.isfinite(row[key]) for row in history), key
    row = history[-1]  # the validation set holds as many pairs of each: L1 is their mean
    assert row["val_gen_l1"] == pytest.approx(
        (row["val_gen_l1_strings"] + row["val_gen_l1_guitar"]) / 2, rel=1e-4
    )
    for target in TARGETS:
        assert files.sample(2, f"_{target}.png").is_file()
        assert files.sample(2, f"_{target}.wav").is_file()
    assert files.curves.is_file() and files.generator.is_file()
    assert files.generator_onnx.is_file()


def test_resume_continues_and_refuses_other_targets(tmp_path):
    from timbre.tf.checkpoints import read_history

    features = make_features(tmp_path)
    model_dir = tmp_path / "model"
    _train(features, model_dir, mode="generator")
    more = dataclasses.replace(FAST, epochs=3)
    result = _train(features, model_dir, mode="generator", config=more, resume=True)
    assert result.epochs_done == 3 and [r["epoch"] for r in read_history(model_dir)] == [1, 2, 3]
    with pytest.raises(ModelError, match="target=strings,guitar"):
        _train(features, model_dir, targets=("guitar", "strings"), mode="generator", resume=True)
    with pytest.raises(ModelError, match="target=strings,guitar"):
        _train(features, model_dir, targets=("strings",), mode="generator", resume=True)
    with pytest.raises(ConfigError, match="guitar listed twice"):
        _train(features, tmp_path / "m2", targets=("guitar", "guitar"), mode="generator")


# --- Conversion and evaluation.


@pytest.mark.parametrize("backend", ["onnx", "keras"])
def test_converts_to_each_target(trained, backend):
    from timbre.convert.converter import load_converter

    _, result = trained
    signal = sine(330.0, 1.0, SMALL_SPEC.sample_rate, 0.3)
    outputs = {}
    for target in TARGETS:
        converter = load_converter(result.model_dir, backend=backend, target=target)
        assert converter.target == target
        outputs[target] = converter.convert(signal, sample_rate=SMALL_SPEC.sample_rate)
        np.testing.assert_array_equal(
            converter.convert(signal, sample_rate=SMALL_SPEC.sample_rate), outputs[target]
        )
        assert len(outputs[target]) == len(signal) and np.all(np.isfinite(outputs[target]))
    assert np.max(np.abs(outputs["strings"] - outputs["guitar"])) > 1e-4
    default = load_converter(result.model_dir, backend=backend)
    assert default.target == "strings"
    np.testing.assert_array_equal(
        default.convert(signal, sample_rate=SMALL_SPEC.sample_rate), outputs["strings"]
    )
    with pytest.raises(ConfigError, match="converts to strings, guitar"):
        load_converter(result.model_dir, backend=backend, target="piano")


def test_both_runtimes_agree_per_target(trained):
    from timbre.convert.backends import load_generator

    _, result = trained
    tiles = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32)).astype("float32")
    for target in TARGETS:
        onnx, _ = load_generator(result.model_dir, backend="onnx", target=target)
        keras_, _ = load_generator(result.model_dir, backend="keras", target=target)
        np.testing.assert_allclose(onnx(tiles), keras_(tiles), atol=1e-4)


def test_predict_picks_the_target(trained, tmp_path, capsys):
    from timbre.cli import predict

    _, result = trained
    source = tmp_path / "in.wav"
    audio.save(source, sine(330.0, 1.0, SMALL_SPEC.sample_rate, 0.3), SMALL_SPEC.sample_rate)
    written = {}
    for target in TARGETS:
        out = tmp_path / f"{target}.wav"
        argv = ["--model", str(result.model_dir), "--input", str(source), "--output", str(out)]
        assert predict.main([*argv, "--target", target]) == 0
        assert f"converting to {target}" in capsys.readouterr().out
        written[target] = audio.load(out, SMALL_SPEC.sample_rate)[0]
    assert np.max(np.abs(written["strings"] - written["guitar"])) > 1e-4
    argv = ["--model", str(result.model_dir), "--input", str(source), "--output"]
    assert predict.main([*argv, str(tmp_path / "x.wav"), "--target", "piano"]) == 1
    err = capsys.readouterr().err
    assert "target='piano'" in err and "strings, guitar" in err
    assert not (tmp_path / "x.wav").exists()


def test_evaluate_scores_each_target_against_its_own_renderings(trained, tmp_path, capsys):
    from timbre.cli import evaluate as evaluate_cli

    features, result = trained
    out = tmp_path / "eval"
    argv = ["--model", str(result.model_dir), "--features", str(features), "--output", str(out)]
    assert evaluate_cli.main(argv) == 0
    printed = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    for target in TARGETS:
        saved = json.loads((out / target / "results.json").read_text())
        assert saved["settings"]["target"] == target
        assert saved["settings"]["target"] in summary and f"| {target} |" in summary
    strings, guitar = (
        json.loads((out / t / "results.json").read_text())["mean"]["identity"]["lsd_db"]
        for t in TARGETS
    )
    assert strings != guitar  # each scored against its own renderings
    assert "gap closed (lsd)" in printed
    folders = ["--origin_dir", str(features.parent / "audios" / "keys")]
    folders += ["--target_dir", str(features.parent / "audios" / "guitar")]
    argv = ["--model", str(result.model_dir), *folders, "--output", str(tmp_path / "e2")]
    assert evaluate_cli.main(argv) == 1
    assert "--target" in capsys.readouterr().err
    assert evaluate_cli.main([*argv, "--target", "guitar"]) == 0
    saved = json.loads((tmp_path / "e2" / "results.json").read_text())
    assert saved["settings"]["target"] == "guitar"


def test_export_a_converter_for_one_target(trained, tmp_path):
    import onnxruntime as ort

    from timbre.convert.converter import load_converter
    from timbre.tf.export import export_converter

    _, result = trained
    signal = sine(330.0, 1.0, SMALL_SPEC.sample_rate, 0.3).astype("float32")
    path = export_converter(result.model_dir, tmp_path / "g.onnx", "onnx", target="guitar")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: signal})
    converter = load_converter(result.model_dir, target="guitar", keep_level=False)
    reference = converter.convert(signal, sample_rate=SMALL_SPEC.sample_rate)
    assert np.corrcoef(out, reference)[0, 1] > 0.99
    with pytest.raises(ConfigError, match="target='piano'"):
        export_converter(result.model_dir, tmp_path / "p.onnx", "onnx", target="piano")


def test_a_single_target_model_is_unchanged(tmp_path):
    features = make_features(tmp_path)
    result = _train(features, tmp_path / "one", targets=("strings",), mode="generator")
    saved = json.loads(ModelDir(result.model_dir).config.read_text())
    assert "targets" not in saved and saved["target"] == "strings"
    info = read_model_info(result.model_dir)
    assert info.targets == () and info.condition() == ("strings", None)
    with pytest.raises(ConfigError, match="converts to strings"):
        info.condition("guitar")
    from timbre.tf.keras_generator import load_model

    assert len(load_model(info.generator).inputs) == 1


def test_a_multi_target_model_starts_from_a_single_target_one(tmp_path):
    """start_from copies every layer by name: the FiLM layers stay at zero, so the new model
    converts to every target as its source converts to its one; another architecture is a
    ModelError."""
    from timbre.tf.fit import start_from
    from timbre.tf.keras_generator import load_model
    from timbre.tf.networks import build_generator

    features = make_features(tmp_path)
    one = _train(features, tmp_path / "one", targets=("strings",), mode="generator")
    source = load_model(ModelDir(one.model_dir).generator)
    generator = build_generator(TINY_MODEL, 32, 32, n_targets=2)
    tiles = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    before = np.asarray(generator([tiles, np.eye(2, dtype="float32")], training=False))
    expected = np.asarray(source(tiles, training=False))
    assert not np.allclose(before, expected, atol=1e-3)  # a fresh model converts otherwise
    assert start_from(generator, one.model_dir) == len([x for x in source.layers if x.weights])
    for k in range(2):
        one_hot = np.repeat(np.eye(2, dtype="float32")[k : k + 1], 2, 0)
        got = np.asarray(generator([tiles, one_hot], training=False))
        np.testing.assert_allclose(got, expected, atol=1e-5)
    wider = build_generator(dataclasses.replace(TINY_MODEL, base_filters=8), 32, 32, n_targets=2)
    with pytest.raises(ModelError, match="another architecture"):
        start_from(wider, one.model_dir)
    # through train(): a fresh run starts there; another architecture stops it before training
    from timbre.tf.fit import train

    result = _train(features, tmp_path / "two", init_from=one.model_dir, mode="generator")
    assert result.epochs_done == FAST.epochs
    with pytest.raises(ModelError, match="another architecture"):
        train(
            features,
            tmp_path / "three",
            "keys",
            list(TARGETS),
            model=dataclasses.replace(TINY_MODEL, base_filters=8),
            config=FAST,
            mode="generator",
            init_from=one.model_dir,
            progress=False,
        )
