"""The Python API (timbre.load_converter, Converter.convert at any rate, convert_file): the
README's example runs as written, ``import timbre`` stays light.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL, identity_generator, melody, relative_error, write_model

import timbre
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
    """The README's block, verbatim, in a fresh interpreter, on a tiny model: outputs at the
    input's rate and length, and no TensorFlow on the ONNX path.
    """
    model = write_model(tmp_path / "models" / "k2s", identity_generator(SMALL), SMALL)
    export.add_generator_onnx(model)
    sf.write(tmp_path / "my_piano.flac", melody(4.0, 22050, seed=3), 22050)
    code = readme_example() + (
        "\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    original, _ = sf.read(tmp_path / "my_piano.flac", dtype="float32")
    written = sorted(p.name for p in tmp_path.glob("my_strings*.wav"))
    assert written == ["my_strings.wav", "my_strings_file.wav"]
    for name in written:
        out, rate = sf.read(tmp_path / name, dtype="float32")
        assert rate == 22050 and out.shape == original.shape and np.all(np.isfinite(out))
        middle = slice(len(out) // 4, 3 * len(out) // 4)  # the identity model gives it back,
        assert relative_error(out[middle], original[middle]) < 0.05  # band-limited (8 kHz)


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
    if rate == SMALL.sample_rate:
        np.testing.assert_array_equal(out, converter.convert(tone))


def test_convert_rate_errors(tmp_path):
    converter = timbre.load_converter(write_model(tmp_path / "m", identity_generator(SMALL), SMALL))
    for bad in (0, -8000, 44.1e3, True):
        with pytest.raises(ConfigError, match=r"sample_rate=.* must be a positive integer"):
            converter.convert(np.zeros(100, np.float32), sample_rate=bad)
