"""Converting files (timbre/convert/files.py): the written file has the input's level as
measured, and the level reported is the written file's, measured; scratch leaves nothing.

The material is a quiet recording as they come (notes at -35 dBFS, long silences, one loud
click: helpers.quiet_excerpt), through models that keep and that change the level: the
network changes it, and undoing the input gain alone wrote files 4.9 dB quieter ("quieter"),
6.2 dB louder (the random convolution) and 8.8 dB quieter (the shipped model: -43.7 dBFS for
an input at -34.9, reported as -34.9) than their input.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL, TileFunction, quiet_excerpt, residual_generator

from timbre.convert.converter import Converter, load_converter
from timbre.dsp.level import active_level_db
from timbre.errors import AudioError
from timbre.formats import shipped

TOLERANCE_DB = 0.5  # the written file's active level may differ from the input's by this


def quieter(tiles: np.ndarray) -> np.ndarray:
    """Every bin ~5 dB down, silence kept: a target instrument quieter than the origin."""
    return tiles - 0.1


@pytest.fixture(scope="module")
def converters() -> dict[str, Converter]:
    return {
        "identity": Converter(TileFunction(SMALL), SMALL),
        "quieter": Converter(TileFunction(SMALL, quieter), SMALL),
        "conv": Converter(residual_generator(SMALL, "conv", seed=2), SMALL),
    }


def converted_levels(converter: Converter, folder, rate: int, **kwargs):
    """quiet_excerpt at ``rate`` through ``convert_file``: (input level, written level as
    measured here, the result).
    """
    audio = quiet_excerpt(30.0, rate)
    sf.write(folder / "in.wav", audio, rate, subtype="FLOAT")
    result = converter.convert_file(folder / "in.wav", folder / "out.wav", **kwargs)
    written, written_rate = sf.read(folder / "out.wav", dtype="float32")
    assert written_rate == result.sample_rate and np.all(np.isfinite(written))
    return active_level_db(audio, rate), active_level_db(written, written_rate), result


@pytest.mark.parametrize("name", ["identity", "quieter", "conv"])
@pytest.mark.parametrize("rate", [16000, 22050])
def test_the_written_level_is_the_inputs(tmp_path, converters, name, rate):
    """Within 0.5 dB of the input's active level, for models that change the level too; the
    reported level is the written file's as measured (not a sum of gains).
    """
    level, written, result = converted_levels(converters[name], tmp_path, rate)
    assert result.level_db == pytest.approx(level, abs=1e-6)  # the input, at its own rate
    assert abs(written - level) < TOLERANCE_DB, (name, written, level)
    assert result.output_level_db == pytest.approx(written, abs=0.01)
    assert not result.limited  # the click is far below full scale after conversion
    if name == "quieter":  # undoing the input gain alone would have written it ~5 dB quiet
        assert result.gain_db + result.output_gain_db > 3.0


def test_the_written_level_at_another_output_rate(tmp_path, converters):
    level, written, result = converted_levels(
        converters["quieter"], tmp_path, 22050, sample_rate=44100
    )
    assert result.sample_rate == 44100 and abs(written - level) < TOLERANCE_DB
    assert result.output_level_db == pytest.approx(written, abs=0.01)


def test_without_keep_level_the_conversion_is_left_as_made(tmp_path):
    """keep_level off: no output gain; the level reported is still the one written."""
    converter = Converter(TileFunction(SMALL, quieter), SMALL, keep_level=False)
    level, written, result = converted_levels(converter, tmp_path, 16000)
    assert result.output_gain_db == 0.0 and written < converter.origin_level_db - 3.0
    assert result.output_level_db == pytest.approx(written, abs=0.01)


def test_the_shipped_model_writes_the_inputs_level(tmp_path):
    """The issue's case: the shipped keyboard -> strings model on a quiet 44.1 kHz excerpt
    (it writes strings ~9 dB quieter than the keyboard it gets at its training level).
    """
    converter = load_converter(shipped.resolve(None))
    level, written, result = converted_levels(converter, tmp_path, 44100)
    assert abs(written - level) < TOLERANCE_DB, (written, level)
    assert result.output_level_db == pytest.approx(written, abs=0.01)
    assert result.gain_db + result.output_gain_db > 3.0  # the network turned it down


def test_the_api_returns_the_inputs_level(converters):
    audio = quiet_excerpt(30.0, 22050)
    out = converters["quieter"].convert(audio, sample_rate=22050)
    assert active_level_db(out, 22050) == pytest.approx(active_level_db(audio, 22050), abs=0.01)


def test_a_failed_write_leaves_nothing(tmp_path, converters, monkeypatch):
    """A full disk while the conversion is parked: one error naming the output, no file left
    (the scratch file has no name), and the error's errno is ENOSPC.
    """
    sf.write(tmp_path / "in.wav", quiet_excerpt(3.0, 16000), 16000, subtype="FLOAT")

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr("tempfile.TemporaryFile", lambda **kwargs: Full())
    with pytest.raises(AudioError, match="out.wav: cannot write audio .no space left") as error:
        converters["identity"].convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    assert error.value.errno == 28
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]
