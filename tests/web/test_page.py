"""The browser page in headless Chromium: a file picked, converted in the page, downloaded,
and compared with the Python converter on the same file and model; no request leaves
localhost. Skipped where there is no Chromium, Playwright or onnxruntime-web (``make test``
installs all three); on CI (``CI`` set) their absence fails instead."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from helpers import melody, relative_error

from timbre.convert.converter import load_converter
from timbre.errors import ConfigError
from timbre.formats import shipped
from timbre.formats.model_dir import read_model_info
from timbre.io import audio as au
from timbre.web import browser, server, site


def _why_not() -> str | None:
    reason = browser.missing()
    if reason is None:
        try:
            site.ort_folder()
        except ConfigError as e:
            reason = str(e)
    return reason


REASON = _why_not()
if REASON and os.environ.get("CI"):
    pytest.fail(f"the browser tests cannot run on CI: {REASON}", pytrace=False)
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser page: {REASON}")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    built = site.build_site(tmp_path_factory.mktemp("site") / "web")
    httpd = server.make_server(built, port=0)
    server.serve_in_background(httpd)
    yield server.url(httpd)
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("suffix", "channels", "subtype", "tolerance"),
    [
        pytest.param(".wav", 1, "FLOAT", 1e-3, id="mono float WAV"),
        pytest.param(".wav", 2, "PCM_16", 1e-3, id="stereo 16-bit WAV"),
        # Chromium decodes FLAC itself, scaling positive samples by 1/32767 (libsndfile:
        # 1/32768): a -96 dB difference the network's quietest bins see
        pytest.param(".flac", 2, "PCM_16", 5e-2, id="stereo FLAC"),
        # lossy formats: each decoder's own rounding (measured: OGG 0.25 %, MP3 2.4 %)
        pytest.param(".ogg", 1, "VORBIS", 5e-2, id="OGG Vorbis"),
        pytest.param(".mp3", 1, "MPEG_LAYER_III", 5e-2, id="MP3"),
    ],
)
def test_the_page_converts_as_python_does(page_url, tmp_path, suffix, channels, subtype, tolerance):
    if subtype not in sf.available_subtypes(suffix[1:].upper()):
        pytest.skip(f"this libsndfile cannot write {subtype}")
    notes = melody(6.0, 44_100, seed=7)
    audio = np.stack([notes, 0.5 * notes[::-1]], axis=1)[:, :channels]
    source = tmp_path / f"piece{suffix}"
    sf.write(source, audio, 44_100, subtype=subtype)
    shot = tmp_path / "page.png"
    run = browser.convert_in_page(page_url, source, tmp_path, screenshot=shot)
    assert run.output.name == "piece_string_acoustic.wav"
    assert run.status.startswith("Converted 6.0 s of audio")
    assert run.console == ()
    assert len(run.from_site) >= 8  # page, code, ONNX Runtime, model, json
    assert run.elsewhere == ()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    python = tmp_path / "python.wav"
    load_converter().convert_file(source, python)
    expected, rate = au.load(python, None)
    got, got_rate = au.load(run.output, None)
    assert got_rate == rate == 44_100 and len(got) == len(expected)
    assert relative_error(got, expected) < tolerance


def test_the_page_converts_to_every_target_of_the_default_model(page_url, tmp_path):
    """The menu's other targets (the one-hot input of the shipped FiLM model) convert as
    Python converts to them, and each differs from the default."""
    info = read_model_info(shipped.resolve(None))
    source = tmp_path / "piece.wav"
    sf.write(source, melody(4.0, 44_100, seed=3), 44_100, subtype="FLOAT")
    load_converter().convert_file(source, tmp_path / "default.wav")
    strings, _ = au.load(tmp_path / "default.wav", None)
    assert len(info.targets) > 1
    for target in info.targets[1:]:
        run = browser.convert_in_page(page_url, source, tmp_path / target, target=target)
        assert run.output.name == f"piece_{target}.wav" and run.console == ()
        python = tmp_path / f"{target}.wav"
        load_converter(target=target).convert_file(source, python)
        expected, _ = au.load(python, None)
        got, _ = au.load(run.output, None)
        assert len(got) == len(expected) and relative_error(got, expected) < 1e-3
        assert relative_error(got, strings) > 0.05


def test_a_file_the_browser_cannot_decode_is_named(page_url, tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(ConfigError, match="noise.wav"):
        browser.convert_in_page(page_url, bad, tmp_path, timeout_s=60)
