"""The Python API (timbre.load_converter, Converter.convert at any rate, convert_file): the
README's example runs as written, ``import timbre`` stays light.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL, TileFunction, identity_generator, melody, relative_error, write_model

import timbre
from timbre.convert.converter import Converter
from timbre.errors import ConfigError
from timbre.tf import export

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The first ```python block of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_import_timbre_is_light():
    code = (
        "import json, sys, timbre\n"
        "assert callable(timbre.load_converter) and timbre.Converter.__name__ == 'Converter'\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime', 'librosa')"
        " if m in sys.modules)))\n"
    )
    bare = "import json, sys, timbre\nprint(json.dumps(sorted(sys.modules.keys() & "
    bare += "{'numpy', 'tensorflow', 'keras', 'librosa'})))\n"
    results = [
        subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, cwd=ROOT)
        for c in (bare, code)
    ]
    assert all(r.returncode == 0 for r in results), results[-1].stderr
    assert json.loads(results[0].stdout) == []  # nothing heavy at all on `import timbre`
    assert json.loads(results[1].stdout) == []  # the converter: no TF, no runtime, no librosa yet
    with pytest.raises(AttributeError, match="no attribute 'Generator'"):
        timbre.Generator  # noqa: B018


def test_the_readme_example_runs(tmp_path):
    """The README's block, verbatim, in a fresh interpreter, on a tiny model and a stereo FLAC:
    outputs at the input's rate and length (mono), int16 and (channels, n) give the same, the
    rate and type traps are one-line TimbreErrors, and no TensorFlow on the ONNX path.
    """
    model = write_model(tmp_path / "models" / "k2s", identity_generator(SMALL), SMALL)
    export.add_generator_onnx(model)
    stereo = np.stack([melody(4.0, 22050, seed=3), melody(4.0, 22050, seed=4)], axis=1)
    sf.write(tmp_path / "my_piano.flac", stereo, 22050)
    code = readme_example() + (
        "\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's timbre, run from tmp_path
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert float(re.search(r"int16, transposed: (\S+) from", lines[0]).group(1)) < 1e-4
    assert lines[1].startswith("convert: sample_rate missing: pass the rate")
    assert lines[2] == "convert: sample_rate=2 must be a whole number of Hz from 8000 to 192000"
    assert lines[3].startswith("convert: sample_rate=16000.5 must be a whole number")
    assert lines[4].startswith("audio: a str ('my_piano.flac') (expected numeric samples")
    original, _ = sf.read(tmp_path / "my_piano.flac", dtype="float32")
    mono = original.mean(axis=1)
    written = sorted(p.name for p in tmp_path.glob("my_strings*.wav"))
    assert written == ["my_strings.wav", "my_strings_file.wav"]
    for name in written:
        out, rate = sf.read(tmp_path / name, dtype="float32")
        assert rate == 22050 and out.shape == mono.shape and np.all(np.isfinite(out))
        middle = slice(len(out) // 4, 3 * len(out) // 4)  # the identity model gives it back,
        assert relative_error(out[middle], mono[middle]) < 0.05  # band-limited (8 kHz)


@pytest.fixture(scope="module")
def identity() -> Converter:
    return Converter(TileFunction(SMALL), SMALL)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_convert_at_any_rate(tmp_path, rate):
    """Audio at another rate is resampled in and back out, not converted as if at the model's."""
    model = write_model(tmp_path / "model", identity_generator(SMALL), SMALL)
    converter = timbre.load_converter(model)
    t = np.arange(int(2.5 * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = converter.convert(tone, sample_rate=rate)
    assert out.shape == tone.shape and out.dtype == np.float32
    middle = slice(len(out) // 4, 3 * len(out) // 4)
    assert relative_error(out[middle], tone[middle]) < 0.02  # 440 Hz stays 440 Hz


def test_arrays_need_a_sample_rate(identity):
    """No silent 44.1 kHz nor model rate: a missing rate is an error that says what to pass."""
    with pytest.raises(ConfigError, match=r"sample_rate missing: pass the rate .* in Hz"):
        identity.convert(melody(1.0, 16000))


@pytest.mark.parametrize(
    "bad",
    [0, -8000, 1, 2, 7999, 192001, 10**9, 16000.5, 44.1, float("nan"), float("inf"), True,
     "44100", [44100], np.float64(16000.25)],
)  # fmt: skip
def test_sample_rates_outside_the_command_lines_range_are_refused(identity, bad):
    with pytest.raises(ConfigError, match=r"sample_rate=.* must be a whole number of Hz from 8000"):
        identity.convert(np.zeros(100, np.float32), sample_rate=bad)


def test_rates_are_checked_before_any_work(identity, monkeypatch):
    """The rate comes first: no generator call, no look at the samples (even "hello")."""
    monkeypatch.setattr(identity, "generate", lambda tiles: pytest.fail("converted"))
    for audio in (np.zeros(10**6, np.float32), "hello"):
        with pytest.raises(ConfigError, match="sample_rate=2 must be"):
            identity.convert(audio, sample_rate=2)


@pytest.mark.parametrize("rate", [16000, 16000.0, np.int32(16000), np.float64(16000.0)])
def test_whole_rates_of_any_type_are_the_same(identity, rate):
    audio = melody(1.0, 16000, seed=1)
    np.testing.assert_array_equal(
        identity.convert(audio, sample_rate=rate), identity.convert(audio, sample_rate=16000)
    )


@pytest.mark.parametrize(
    "dtype,scale,offset",
    [("int16", 2**15, 0), ("int32", 2**31, 0), ("int8", 2**7, 0), ("uint8", 2**7, 2**7),
     ("uint16", 2**15, 2**15), ("int64", 2**63, 0), ("float16", 1, 0), ("float64", 1, 0)],
)  # fmt: skip
def test_integer_arrays_are_scaled_by_their_range(identity, dtype, scale, offset):
    """PCM converts like the float samples it stands for (int16 / 32768, uint8 centred on 128),
    not as raw values (an int16 array used to come out with a peak of thousands).
    """
    audio = melody(2.0, 16000, seed=2)
    pcm = audio.astype(np.float64) * scale + offset
    pcm = (pcm if np.dtype(dtype).kind == "f" else np.round(pcm)).astype(dtype)
    as_float = ((pcm.astype(np.float64) - offset) / scale).astype(np.float32)
    out = identity.convert(pcm, sample_rate=16000)
    np.testing.assert_allclose(out, identity.convert(as_float, sample_rate=16000), atol=1e-5)
    assert np.max(np.abs(out)) < 1.0 and relative_error(out[8000:-8000], audio[8000:-8000]) < 0.05


def test_lists_of_numbers_and_array_likes_are_samples(identity):
    class Tensor:  # an array-like that is not an ndarray (a CPU tensor, a pandas Series)
        def __init__(self, data):
            self.data = data

        def __array__(self, dtype=None, copy=None):
            return self.data

    audio = melody(1.0, 16000, seed=3)
    reference = identity.convert(audio, sample_rate=16000)
    for given in (audio.tolist(), tuple(audio.tolist()), Tensor(audio)):
        np.testing.assert_allclose(identity.convert(given, sample_rate=16000), reference, atol=1e-6)


@pytest.mark.parametrize("layout", ["samples_channels", "channels_samples"])
@pytest.mark.parametrize("channels", [1, 2, 6, 8])
def test_channels_are_mixed_to_mono_in_either_layout(identity, layout, channels):
    """As predict.py does with a multichannel file: the average of the channels."""
    rng = np.random.default_rng(channels)
    stack = np.stack([melody(1.5, 16000, seed=int(s)) for s in rng.integers(0, 99, channels)])
    mono = identity.convert(stack.mean(axis=0, dtype=np.float32), sample_rate=16000)
    given = stack.T if layout == "samples_channels" else stack
    np.testing.assert_allclose(identity.convert(given, sample_rate=16000), mono, atol=1e-6)


@pytest.mark.parametrize(
    "shape,message",
    [((2, 2), "ambiguous"), ((4, 8), "ambiguous"), ((1, 5), "ambiguous"),
     ((20, 30), "no channel axis"), ((9, 16000), "no channel axis"),
     ((2, 3, 16000), r"shape \(2, 3, 16000\) \(expected"), ((), r"shape \(\) \(expected")],
)  # fmt: skip
def test_shapes_without_a_clear_channel_axis_are_refused(identity, shape, message):
    with pytest.raises(ConfigError, match=message):
        identity.convert(np.zeros(shape, np.float32), sample_rate=16000)


@pytest.mark.parametrize(
    "audio,named",
    [("hello", r"a str \('hello'\)"), (None, "a NoneType"), (b"\x00\x01", "a bytes"),
     (["a", "b"], "a list of str"), ([0.1, "a"], "a list of float, str"),
     ({"x": 1.0}, "a dict"), (3.5, r"a float \(3.5\)"),
     (np.array(["x", "y"]), "an array of dtype <U1"),
     (np.ones(10, bool), "an array of dtype bool"),
     (np.ones(10, complex), "an array of dtype complex128"),
     (np.array([1.0, None]), "an array of dtype object"),
     ([[0.1, 0.2], [0.3]], "a list of list")],
)  # fmt: skip
def test_anything_not_numeric_is_a_timbre_error_naming_it(identity, audio, named):
    with pytest.raises(timbre.TimbreError, match=f"audio: {named}.*expected numeric samples"):
        identity.convert(audio, sample_rate=16000)


def traced_peak(converter: Converter, seconds: float, rate: int) -> tuple[int, int]:
    """(tracemalloc's peak while converting ``seconds`` of a tone at ``rate``, the result's
    bytes); the input is made before tracing starts.
    """
    audio = (0.1 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)
    tracemalloc.start()
    try:
        out = converter.convert(audio, sample_rate=rate)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == audio.shape
    return peak, out.nbytes


@pytest.mark.parametrize("rate", [16000, 22050])  # at the model's rate, and resampled
def test_memory_does_not_grow_with_the_length_beyond_the_result(identity, rate):
    """60 s vs 600 s: the traced peak grows by the longer result alone (+34 MB at 16 kHz, the
    result being 34.6 MB longer), not by copies of it (the whole-array path: +408 MB).
    """
    short, short_bytes = traced_peak(identity, 60.0, rate)
    long, long_bytes = traced_peak(identity, 600.0, rate)
    grown = long_bytes - short_bytes
    assert long - short < 1.1 * grown + 4e6, (long - short, grown)
