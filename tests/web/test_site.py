"""The browser page's site (what ``make web`` builds) and its server."""

from __future__ import annotations

import json
import urllib.request

import pytest
from helpers import SMALL_SPEC, write_model_dir

from timbre.cli import web as web_cli
from timbre.errors import ConfigError, ModelError
from timbre.formats import instruments, shipped
from timbre.formats.model_dir import read_model_info
from timbre.web import server, site

try:
    site.ort_folder()
    NO_ORT = None
except ConfigError as e:
    NO_ORT = str(e)
needs_ort = pytest.mark.skipif(NO_ORT is not None, reason=f"{NO_ORT}")


@needs_ort
def test_the_site_has_the_page_the_runtime_and_every_shipped_model(tmp_path, capsys):
    assert web_cli.main(["--site", str(tmp_path / "site"), "--build_only"]) == 0
    built = tmp_path / "site"
    assert f"built the page in {built}" in capsys.readouterr().out
    for name in (*site.PAGE_FILES, *site.CODE_FILES, *(f"ort/{n}" for n in site.ORT_FILES)):
        assert (built / name).stat().st_size > 0, name
    entries = json.loads((built / "models.json").read_text())
    assert [e["name"] for e in entries][0] == shipped.DEFAULT
    assert {e["name"] for e in entries} == set(shipped.available())
    for entry in entries:
        info = read_model_info(shipped.available()[entry["name"]])
        assert (built / entry["onnx"]).read_bytes() == info.generator_onnx.read_bytes()
        assert entry["spectrogram"]["n_fft"] == info.spectrogram.n_fft
        assert entry["origin_level_db"] == info.origin_level_db
        assert entry["targets"] == (list(info.targets) or [info.target])
        assert entry["labels"] == [instruments.label(t) for t in entry["targets"]]
    assert "guitar (guitar_acoustic)" in entries[0]["labels"]  # the default model's menu
    assert json.loads((built / "chain.json").read_text()) == site.chain_constants()
    (built / "stale.txt").write_text("from an older build")
    site.build_site(built)  # a site is rebuilt whole
    assert not (built / "stale.txt").exists()


@needs_ort
def test_a_model_without_onnx_is_refused_by_name(tmp_path):
    model = write_model_dir(tmp_path / "keras_only", SMALL_SPEC)
    assert read_model_info(model).generator_onnx is None
    with pytest.raises(ModelError, match="keras_only: no generator.onnx"):
        site.build_site(tmp_path / "site", {"mine": model})
    assert not (tmp_path / "site").exists()


def test_the_server_sends_what_threads_and_modules_need(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "a.mjs").write_text("export {};")
    (tmp_path / "b.wasm").write_bytes(b"\0asm")
    httpd = server.make_server(tmp_path, port=0)
    server.serve_in_background(httpd)
    try:
        for name, kind in (
            ("", "text/html"),
            ("a.mjs", "text/javascript"),
            ("b.wasm", "application/wasm"),
        ):
            with urllib.request.urlopen(server.url(httpd) + name) as response:
                assert response.headers["Content-Type"].startswith(kind), name
                assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_serving_a_folder_that_is_no_site_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not a built site"):
        server.make_server(tmp_path, port=0)
