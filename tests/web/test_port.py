"""The browser page's signal chain (web/src/dsp.js, chain.js) against timbre.dsp and the
converter, function by function, run in Node (no browser, no ONNX Runtime Web)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL_SPEC, TileFunction, excerpt, melody, quiet_excerpt, relative_error

from timbre.convert.converter import Converter
from timbre.dsp import edges, level, tiling
from timbre.dsp import stft as sp
from timbre.io import audio as au
from timbre.settings import SpectrogramConfig
from timbre.web.site import chain_constants, chain_settings

HARNESS = Path(__file__).with_name("port.mjs")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no Node.js here (apt-get install nodejs)")
DEFAULT = SpectrogramConfig()
CONFIGS = [pytest.param(DEFAULT, id="default"), pytest.param(SMALL_SPEC, id="small")]


def port(tmp_path: Path, fn: str, args: dict | None = None, **arrays: np.ndarray) -> dict:
    """Run ``fn`` of the port in Node on float32 ``arrays``; its outputs as float64 arrays."""
    inputs = {}
    for name, array in arrays.items():
        path = tmp_path / f"{fn}_{name}.f32"
        np.ascontiguousarray(array, dtype=np.float32).tofile(path)
        inputs[name] = str(path)
    job = tmp_path / f"{fn}.json"
    output = tmp_path / f"{fn}_out.json"
    args = {"chain": chain_constants(), **(args or {})}
    job.write_text(json.dumps({"fn": fn, "args": args, "inputs": inputs, "output": str(output)}))
    subprocess.run([NODE, str(HARNESS), str(job)], check=True, timeout=120)
    return {k: np.array([float(x) for x in v]) for k, v in json.loads(output.read_text()).items()}


def spec_dict(config: SpectrogramConfig) -> dict:
    return chain_settings(config, None)["spectrogram"]


@pytest.mark.parametrize("config", CONFIGS)
def test_log_spectrogram_is_the_pythons(tmp_path, config):
    audio = melody(1.3, config.sample_rate, seed=3)
    spec, phase = sp.log_spectrogram(audio, config)
    out = port(tmp_path, "logSpectrogram", {"config": spec_dict(config)}, audio=audio)
    js_spec = out["spec"].reshape(-1, config.n_bins).T  # frame-major in the port
    js_phase = out["phase"].reshape(-1, config.n_bins).T
    assert js_spec.shape == spec.shape
    np.testing.assert_allclose(js_spec, spec, atol=2e-6)
    loud = spec > -0.5  # where the phase means something
    assert np.max(np.abs(np.angle(np.exp(1j * (js_phase - phase)))[loud])) < 1e-3


@pytest.mark.parametrize("config", CONFIGS)
def test_inverse_is_the_pythons(tmp_path, config, rng):
    length = 3 * config.tile_frames * config.hop_length + config.hop_length - 7
    frames = sp.n_frames_for(length, config)
    spec = rng.uniform(-1, 0.2, (config.n_bins, frames)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, spec.shape).astype(np.float32)
    expected = sp.invert_log_spectrogram(spec, phase, config, length)
    args = {"config": spec_dict(config), "length": length}
    out = port(tmp_path, "invertLogSpectrogram", args, spec=spec.T, phase=phase.T)
    assert len(out["audio"]) == length
    assert relative_error(out["audio"], expected) < 1e-5


@pytest.mark.parametrize("n_samples", [100, 44_100])
def test_edge_prediction_is_the_pythons(tmp_path, n_samples):
    audio = excerpt(n_samples, 44_100, seed=2)
    expected = edges.pad_edges(audio, 8704, 44_100)
    out = port(tmp_path, "padEdges", {"pad": 8704, "rate": 44_100}, audio=audio)
    assert relative_error(out["audio"], expected) < 1e-5
    np.testing.assert_array_equal(out["audio"][8704:-8704], audio)


@pytest.mark.parametrize(
    "audio",
    [
        pytest.param(quiet_excerpt(12.0, 44_100, level_db=-38.0), id="quiet, pauses, a click"),
        pytest.param(melody(0.2, 44_100), id="shorter than a block"),
        pytest.param(np.zeros(5000, np.float32), id="silence"),
    ],
)
def test_active_level_is_the_pythons(tmp_path, audio):
    expected = level.active_level_db(audio, 44_100)
    got = port(tmp_path, "activeLevelDb", {"rate": 44_100}, audio=audio)["level"][0]
    if np.isinf(expected):
        assert got == expected
    else:
        assert abs(got - expected) < 1e-4


def test_limiter_is_the_pythons(tmp_path):
    audio = melody(2.0, 44_100, seed=5)
    audio = 1.4 * audio / np.max(np.abs(audio))  # peaks over full scale
    limiter = level.PeakLimiter(44_100)
    expected = np.concatenate([limiter.feed(audio), limiter.finish()])
    assert limiter.limited > 0
    out = port(tmp_path, "limitPeaks", {"rate": 44_100}, audio=audio)["audio"]
    assert np.max(np.abs(out)) <= level.LIMIT_CEILING + 1e-6
    assert relative_error(out, expected) < 1e-6


@pytest.mark.parametrize("n_frames", [0, 10, 256, 257, 1000])
def test_tile_positions_and_blend_window_are_the_pythons(tmp_path, n_frames):
    starts = port(tmp_path, "tileStarts", {"n_frames": n_frames, "tile_frames": 256, "overlap": 64})
    np.testing.assert_array_equal(starts["starts"], tiling.tile_starts(n_frames, 256, 64))
    plan = tiling.TilingPlan.create(DEFAULT)
    args = {"tile_frames": 256, "fade": plan.overlap - 2 * plan.context, "context": plan.context}
    np.testing.assert_allclose(port(tmp_path, "blendWindow", args)["window"], plan.window)


@pytest.mark.filterwarnings("ignore:.*may be clipped")  # peaks over full scale, on purpose
@pytest.mark.parametrize(
    ("config", "seconds"),
    [pytest.param(DEFAULT, 7.3, id="default"), pytest.param(SMALL_SPEC, 2.9, id="small")],
)
def test_a_whole_conversion_is_the_converters(tmp_path, config, seconds):
    """The chain with an affine stand-in for the network (quieter, every tile changed) against
    Converter.convert_file: level matching, edges, tiles, blend, phase, level, limiter."""
    rate = config.sample_rate
    audio = 3.0 * quiet_excerpt(seconds, rate, level_db=-30.0, seed=4)  # loud click: limited
    au.save(tmp_path / "in.wav", audio, rate)
    audio = au.load(tmp_path / "in.wav", None)[0]
    converter = Converter(TileFunction(config, lambda t: 0.8 * t - 0.1), config)
    result = converter.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    assert result.limited  # the limiter is part of what is compared
    expected = au.load(tmp_path / "out.wav", None)[0]
    model = chain_settings(config, converter.origin_level_db)
    args = {"model": model, "scale": 0.8, "offset": -0.1}
    out = port(tmp_path, "convert", args, audio=audio)
    assert abs(out["level"][0] - result.level_db) < 1e-4
    assert abs(out["gain"][0] - result.output_gain_db) < 1e-3
    assert len(out["audio"]) == len(expected)
    assert relative_error(out["audio"], expected) < 1e-4


@pytest.mark.parametrize(
    ("subtype", "channels"),
    [
        ("PCM_16", 1),
        ("PCM_16", 2),
        ("PCM_24", 1),
        ("PCM_32", 3),
        ("PCM_U8", 1),
        ("FLOAT", 2),
        ("DOUBLE", 1),
    ],
)
def test_wav_files_read_as_python_reads_them(tmp_path, subtype, channels):
    notes = melody(0.5, 22_050, seed=1)
    audio = np.stack([notes * (1 - 0.3 * c) * (-1) ** c for c in range(channels)], axis=1)
    path = tmp_path / "x.wav"
    sf.write(path, audio, 22_050, subtype=subtype)
    out = port(tmp_path, "readWav", {"path": str(path)})
    expected, rate = au.load(path, None)
    assert out["rate"][0] == rate == 22_050 and out["channels"][0] == channels
    np.testing.assert_array_equal(out["samples"].astype(np.float32), expected)


def test_a_file_that_is_not_wav_is_left_to_the_browser(tmp_path):
    path = tmp_path / "x.flac"
    sf.write(path, melody(0.2, 22_050), 22_050)
    assert port(tmp_path, "readWav", {"path": str(path)}) == {}
