"""Exports (timbre/tf/export.py, timbre export) and the runtimes that run them
(backends.py, onnx_backend.py): ONNX Runtime converts like Keras, without TensorFlow; a stale
or broken generator.onnx is never used; exported converters compute Converter.convert_span.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL, conv_generator, melody, residual_generator, write_model

from timbre.cli import export as export_cli
from timbre.convert import backends, onnx_backend
from timbre.convert.converter import Converter, load_converter
from timbre.errors import ConfigError, ModelError
from timbre.formats.generator import SOURCE_KEY, source_digest
from timbre.formats.model_dir import read_model_info
from timbre.settings import ModelConfig, SpectrogramConfig
from timbre.tf import export, run_dir
from timbre.tf.keras_generator import KerasGenerator

pytest.importorskip("onnxruntime", reason="the ONNX path needs onnxruntime")
pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx")

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 75 * SMALL.hop_length + 50  # 76 frames: tiles at frames 0, 24 and 44 (3 tiles)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A model directory with the tiny U-Net (plus its input) and its generator.onnx."""
    folder = write_model(
        tmp_path_factory.mktemp("export") / "model",
        residual_generator(SMALL, "unet"),
        SMALL,
        origin_level_db=-20.0,
        origin="keyboard_acoustic",
        target="string_acoustic",
    )
    export.add_generator_onnx(folder)
    return folder


def test_generator_onnx_records_its_source(model_dir):
    info = read_model_info(model_dir)
    assert info.generator_onnx == model_dir / "generator.onnx"
    generator = onnx_backend.OnnxGenerator(info.generator_onnx, SMALL)
    assert generator.metadata[SOURCE_KEY] == source_digest(model_dir / "generator.keras")
    assert backends.choose_backend(info) == "onnx"


def test_float16_weights_halve_the_file_and_keep_the_tiles(tmp_path, model_dir, monkeypatch):
    """``weights="float16"`` (the shipped models' copies): the large initializers become
    float16 read through a Cast, the arithmetic stays float32, the tiles move < 1e-3."""
    import onnx

    monkeypatch.setattr(export, "HALF_MIN_SIZE", 64)  # the tiny model's kernels are small
    half = tmp_path / "model"
    shutil.copytree(model_dir, half)
    export.add_generator_onnx(half, weights="float16")
    proto = onnx.load(half / "generator.onnx")
    types = {i.name: i.data_type for i in proto.graph.initializer}
    casts = [n for n in proto.graph.node if n.op_type == "Cast"]
    assert casts and all(types[n.input[0]] == onnx.TensorProto.FLOAT16 for n in casts)
    left = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert all(np.prod(i.dims) < 64 for i in left)
    assert (half / "generator.onnx").stat().st_size < 0.7 * (
        model_dir / "generator.onnx"
    ).stat().st_size
    tiles = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32)).astype(np.float32)
    onnx_half = load_converter(half, backend="onnx").generate(tiles)
    np.testing.assert_allclose(
        onnx_half, load_converter(half, backend="keras").generate(tiles), atol=1e-3
    )
    with pytest.raises(ConfigError, match="weights='bfloat16'"):
        export.add_generator_onnx(half, weights="bfloat16")


@pytest.mark.parametrize("phase", ["input", "griffinlim"])
def test_onnx_converts_like_keras(tmp_path, model_dir, phase):
    """Both runtimes, whole file and streamed: the same output within 1e-4."""
    fast = load_converter(model_dir, phase=phase, iterations=4, batch_size=3)
    keras_path = load_converter(model_dir, backend="keras", phase=phase, iterations=4)
    assert (fast.backend, keras_path.backend) == ("onnx", "keras")
    tiles = np.random.default_rng(0).uniform(-1, 1, (5, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(fast.generate(tiles), keras_path.generate(tiles), atol=1e-5)
    audio = melody(6.0, SMALL.sample_rate, seed=2)
    np.testing.assert_allclose(
        fast.convert(audio, sample_rate=SMALL.sample_rate),
        keras_path.convert(audio, sample_rate=SMALL.sample_rate),
        atol=1e-4,
    )
    sf.write(tmp_path / "in.wav", audio, 22050)
    outputs = []
    for converter in (fast, keras_path):
        converter.convert_file(tmp_path / "in.wav", tmp_path / f"{converter.backend}.wav")
        outputs.append(sf.read(tmp_path / f"{converter.backend}.wav", dtype="float32")[0])
    assert len(outputs[0]) == len(audio)
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4)


def test_the_onnx_path_imports_no_tensorflow(tmp_path, model_dir):
    """predict.py, evaluate.py and the Python API, in a fresh interpreter: no TensorFlow."""
    for folder in ("origin", "target"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "piece.wav", melody(2.0, 16000, seed=1), 16000)
    code = f"""
import json, sys
import numpy as np
import timbre
from timbre.cli import evaluate, predict
converter = timbre.load_converter({str(model_dir)!r})
out = converter.convert(np.full(8000, 0.1, np.float32) * np.sin(np.arange(8000)), sample_rate=8000)
assert converter.backend == "onnx" and out.shape == (8000,)
assert predict.main(["--model", {str(model_dir)!r}, "--input", {str(tmp_path / "origin")!r},
                     "--output", {str(tmp_path / "out")!r}]) == 0
assert evaluate.main(["--model", {str(model_dir)!r}, "--origin_dir", {str(tmp_path / "origin")!r},
                      "--target_dir", {str(tmp_path / "target")!r}, "--output",
                      {str(tmp_path / "eval")!r}, "--quiet"]) == 0
print(json.dumps(sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out" / "piece.wav").is_file()
    assert (tmp_path / "eval" / "results.json").is_file()


def test_a_stale_onnx_copy_is_never_used(tmp_path, model_dir):
    """A generator.keras replaced after the copy was made: Keras converts, with a warning."""
    folder = shutil.copytree(model_dir, tmp_path / "model")
    conv_generator(SMALL, seed=5).save(folder / "generator.keras")
    with pytest.warns(UserWarning, match="made from another generator.*converting with Keras"):
        converter = load_converter(folder)
    assert converter.backend == "keras"
    audio = melody(2.0, SMALL.sample_rate)
    reference = Converter(conv_generator(SMALL, seed=5), SMALL, origin_level_db=-20.0)
    np.testing.assert_allclose(
        converter.convert(audio, sample_rate=SMALL.sample_rate),
        reference.convert(audio, sample_rate=SMALL.sample_rate),
        atol=1e-5,
    )
    with pytest.raises(ModelError, match="made from another generator.*--format generator_onnx"):
        load_converter(folder, backend="onnx")


def test_a_broken_onnx_file_falls_back_to_keras(tmp_path, model_dir):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / "generator.onnx").write_bytes(b"not a model")
    with pytest.warns(UserWarning, match="not a loadable ONNX model"):
        assert load_converter(folder).backend == "keras"
    with pytest.raises(ModelError, match="generator.onnx: not a loadable ONNX model"):
        load_converter(folder, backend="onnx")


def test_backend_choice(tmp_path, model_dir, monkeypatch):
    info = read_model_info(model_dir)
    assert backends.choose_backend(info, "keras") == "keras"
    assert backends.choose_backend(info, precision="bfloat16") == "keras"
    converter = load_converter(model_dir, precision="bfloat16")
    assert (converter.backend, converter.precision) == ("keras", "bfloat16")
    with pytest.raises(ConfigError, match="precision='bfloat16' with backend='onnx'"):
        backends.choose_backend(info, "onnx", "bfloat16")
    with pytest.raises(ConfigError, match="backend='tpu'"):
        load_converter(model_dir, backend="tpu")
    with pytest.raises(ConfigError, match="precision='float16'"):
        load_converter(model_dir, precision="float16")
    old = write_model(tmp_path / "old", conv_generator(SMALL), SMALL)  # trained before: no ONNX
    assert load_converter(old).backend == "keras"
    with pytest.raises(ModelError, match="no generator.onnx.*--format generator_onnx"):
        load_converter(old, backend="onnx")
    monkeypatch.setattr(onnx_backend, "available", lambda: False)
    assert backends.choose_backend(info) == "keras"
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        backends.choose_backend(info, "onnx")


def test_training_writes_the_onnx_copy_with_the_keras_file(tmp_path, monkeypatch):
    """export_generator: both files, the copy made from the file beside it; without a working
    tf2onnx only generator.keras (an older copy is removed, never left stale).
    """
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as --mixed_precision bf16
    try:
        generator = residual_generator(SMALL, "unet", seed=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    write_model(tmp_path, conv_generator(SMALL), SMALL)
    path = run_dir.export_generator(SimpleNamespace(generator=generator), tmp_path)
    info = read_model_info(tmp_path)
    assert path == info.generator and info.generator_onnx is not None
    onnx = load_converter(tmp_path)
    exact = KerasGenerator(generator, "float32")  # the ONNX copy computes in float32
    tiles = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32)).astype(np.float32)
    assert onnx.backend == "onnx"
    np.testing.assert_allclose(onnx.generate(tiles), np.clip(exact(tiles), -1, 1), atol=1e-4)

    def broken(*args):
        raise ModelError("ONNX export needs tf2onnx (pip install tf2onnx)")

    monkeypatch.setattr(run_dir, "write_generator_onnx", broken)
    with pytest.warns(UserWarning, match="needs tf2onnx.*no generator.onnx: conversion uses Keras"):
        run_dir.export_generator(SimpleNamespace(generator=generator), tmp_path)
    assert read_model_info(tmp_path).generator_onnx is None


# --- Converters for deployment --------------------------------------------------------------


EXPECTED_METADATA = {  # what model_dir's config.json says, as a deployer reads it
    "sample_rate": 16000,
    "origin_level_db": -20.0,
    "origin": "keyboard_acoustic",
    "target": "string_acoustic",
    "targets": ["string_acoustic"],
    "input": "audio",
    "output": "target",
}


def _run_exported(path: Path, fmt: str, chunk: np.ndarray) -> np.ndarray:
    """The exported converter on ``chunk``, in its own runtime, by its documented names
    (input ``audio``, output ``target``) and metadata, as the README's example runs it."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        metadata = session.get_modelmeta().custom_metadata_map
        expected = {f"timbre_{k}": v for k, v in EXPECTED_METADATA.items()}
        expected["timbre_targets"] = "string_acoustic"
        assert {k: metadata[k] for k in expected} == {k: str(v) for k, v in expected.items()}
        assert [o.name for o in session.get_outputs()] == ["target"]
        return session.run(["target"], {"audio": chunk})[0]
    if fmt == "saved_model":
        import tensorflow as tf

        metadata = json.loads((path / "assets.extra" / "timbre.json").read_text())
        assert {k: metadata[k] for k in EXPECTED_METADATA} == EXPECTED_METADATA
        loaded = tf.saved_model.load(str(path))
        assert int(loaded.sample_rate[0]) == 16000
        return loaded.signatures["serve"](audio=tf.constant(chunk))["target"].numpy()
    from ai_edge_litert.interpreter import Interpreter

    metadata = json.loads(Path(f"{path}.json").read_text())
    assert {k: metadata[k] for k in EXPECTED_METADATA} == EXPECTED_METADATA
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LiteRT's interpreter, no deprecation notice
        interpreter = Interpreter(model_path=str(path))
    return interpreter.get_signature_runner("serve")(audio=chunk)["target"]


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_exported_converter_computes_convert_span(tmp_path, model_dir, fmt):
    """On a 3-tile chunk (and a chunk shorter than one tile), the exported graph's output equals
    ``Converter.convert_span`` of the same chunk (the converter with level matching and edge
    prediction off) within 1e-3.
    """
    written = export_cli.main(
        ["--model", str(model_dir), "--format", fmt, "--output", str(tmp_path / f"c.{fmt}")]
    )
    assert written == 0
    converter = load_converter(model_dir, backend="keras")
    for n in (CHUNK, 1000):
        chunk = melody(1.0, SMALL.sample_rate, seed=n)[:n]
        reference = converter.convert_span(chunk)
        out = _run_exported(tmp_path / f"c.{fmt}", fmt, chunk)
        assert out.shape == chunk.shape and np.max(np.abs(reference)) > 0.05
        np.testing.assert_allclose(out, reference, atol=1e-3)
    assert converter.plan.tile_borders(CHUNK // SMALL.hop_length + 1).size  # several tiles


def test_export_command(tmp_path, model_dir, capsys):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / "generator.onnx").unlink()
    assert export_cli.main(["--model", str(folder), "--format", "generator_onnx"]) == 0
    assert "generator.onnx (predict.py and evaluate.py now run it" in capsys.readouterr().out
    assert load_converter(folder).backend == "onnx"
    (tmp_path / "taken.onnx").write_text("mine")
    for argv, message in (
        (["--format", "onnx"], "--format onnx needs --output"),
        (["--format", "onnx", "--output", str(tmp_path / "taken.onnx")], "already exists"),
        (["--format", "generator_onnx", "--output", str(tmp_path / "x")], "expected none"),
    ):
        assert export_cli.main(["--model", str(folder), *argv]) == 1
        assert message in capsys.readouterr().err
    assert (tmp_path / "taken.onnx").read_text() == "mine"
    assert export_cli.main(["--model", str(tmp_path / "nowhere"), "--format", "tflite"]) == 1
    assert "nowhere: not found" in capsys.readouterr().err


def test_export_removes_a_killed_runs_scratch_and_says_what_ctrl_c_left(
    tmp_path, model_dir, monkeypatch, capsys
):
    """#29: a SIGKILLed export's ``.<name>.tmp-*`` scratch is removed by the next run; Ctrl-C
    ends in status 130 saying what was written."""
    (tmp_path / ".c.tmp-deadbeef.onnx").write_bytes(b"half an export")
    (tmp_path / ".k.tflite.tmp-12345678").mkdir()
    argv = ["--model", str(model_dir), "--format", "onnx", "--output", str(tmp_path / "c.onnx")]
    assert export_cli.main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.onnx"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "export_converter", interrupted)
    capsys.readouterr()
    assert export_cli.main([*argv[:-1], str(tmp_path / "d.onnx")]) == 130
    assert "interrupted; nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "d.onnx").exists()


def test_export_errors(tmp_path, model_dir):
    with pytest.raises(ConfigError, match="format='pb'"):
        export.export_converter(model_dir, tmp_path / "x", "pb")
    odd = SpectrogramConfig(sample_rate=16000, n_fft=256, hop_length=96, n_bins=32, tile_frames=32)
    generator = residual_generator(odd, "conv")
    folder = write_model(tmp_path / "odd", generator, odd)
    with pytest.raises(ConfigError, match="n_fft to be a multiple of hop_length"):
        export.export_converter(folder, tmp_path / "odd.onnx", "onnx")
    assert not (tmp_path / "odd.onnx").exists()


def test_the_demo_sized_generator_exports(tmp_path):
    """The real U-Net at full tile size (16 filters, the demo's size) to ONNX: same tiles."""
    from timbre.tf.networks import build_generator

    config = SpectrogramConfig()
    generator = build_generator(ModelConfig(base_filters=16, dropout=0.0), 256, 256)
    folder = write_model(tmp_path / "model", generator, config)
    export.add_generator_onnx(folder)
    tiles = np.random.default_rng(2).uniform(-1, 1, (2, 256, 256)).astype(np.float32)
    fast, _ = backends.load_generator(folder)
    assert fast.backend == "onnx"
    np.testing.assert_allclose(fast(tiles), KerasGenerator(generator)(tiles), atol=1e-4)


def test_a_tf2onnx_failure_is_a_model_error(tmp_path, model_dir, monkeypatch):
    import tf2onnx

    def fail(*args, **kwargs):
        raise ValueError("unsupported op")

    monkeypatch.setattr(tf2onnx.convert, "from_function", fail)
    with pytest.raises(ModelError, match="tf2onnx could not convert the graph .ValueError"):
        export.export_converter(model_dir, tmp_path / "c.onnx", "onnx")
    assert not (tmp_path / "c.onnx").exists()


def _readme_export_blocks() -> tuple[list[list[str]], str]:
    """The README's Export section: its ``timbre export`` command lines and its Python block."""
    import re
    import shlex

    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Export\n", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line.split("#")[0])[1:] for line in shell.splitlines() if line]
    return commands, re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_export_example_runs(tmp_path, model_dir, monkeypatch):
    """#24: the README's commands and Python block, as written, on a tiny model: the three
    converters agree, by their documented names, and the metadata is where it says."""
    commands, code = _readme_export_blocks()
    shutil.copytree(model_dir, tmp_path / "models" / "k2s")
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert argv[0] == "export"
        assert export_cli.main(argv[1:]) == 0, argv
    sf.write(tmp_path / "chunk.wav", melody(1.0, SMALL.sample_rate, seed=5), SMALL.sample_rate)
    code += (
        "\nimport numpy as np\n"
        "print(json.dumps([lite['sample_rate'], lite['origin_level_db'], "
        "float(np.abs(converted - converted_lite).max()), "
        "float(np.abs(converted - converted_tf).max()), len(converted) == len(chunk)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:ai_edge_litert", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rate, level, lite_gap, tf_gap, same_length = json.loads(done.stdout.strip().splitlines()[-1])
    assert (rate, level, same_length) == (SMALL.sample_rate, -20.0, True)
    assert lite_gap < 1e-3 and tf_gap < 1e-3
