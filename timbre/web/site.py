"""The static site of the browser page, built from ``web/`` and the shipped models.

``build_site(dest)`` writes, atomically (a half-built site is never served)::

    index.html style.css          the page
    app.js worker.js chain.js dsp.js wav.js
                                  its code: the UI, the Web Worker that converts, the chain
                                  (a port of the converter), the signal chain (a port of
                                  timbre.dsp), WAV files read as libsndfile reads them
    ort/                          ONNX Runtime Web (WebAssembly, SIMD and threads), from
                                  web/node_modules (``make web`` installs it, pinned by
                                  web/package-lock.json)
    models/<name>/generator.onnx  each shipped model's generator
    models.json                   each model's spectrogram settings, training level,
                                  targets with the labels the menu shows (``strings
                                  (string_acoustic)``) and tiling plan, as the Python
                                  converter has them
    chain.json                    the constants of timbre.dsp the port uses

Nothing in the site refers to another host: served on localhost, the page works offline.
The numbers in ``models.json`` and ``chain.json`` are read from the Python code here, so
the port has no constant of its own to drift.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from timbre.dsp import edges, level, tiling
from timbre.errors import ConfigError, ModelError
from timbre.formats import instruments, shipped
from timbre.formats.model_dir import ModelInfo, read_model_info
from timbre.io.atomic import atomic_folder, write_json
from timbre.settings import ConvertConfig, SpectrogramConfig

SOURCE = Path(__file__).parents[2] / "web"  # the page's sources in a source checkout
PAGE_FILES = ("index.html", "style.css")
CODE_FILES = ("app.js", "worker.js", "chain.js", "dsp.js", "wav.js")  # under web/src/
ORT_FILES = (  # what the page loads of onnxruntime-web's dist/: the WebAssembly build only
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
)
DEFAULT_SITE = Path("build") / "web"  # timbre web's folder, relative to the working directory


def ort_folder(source: Path | None = None) -> Path:
    """``web/node_modules/onnxruntime-web/dist`` (raises when ``make web`` has not run)."""
    dist = (SOURCE if source is None else source) / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_FILES if not (dist / name).is_file()]
    if missing:
        raise ConfigError(
            f"{dist}: onnxruntime-web is not installed ({missing[0]} missing); run `make web` "
            "(npm ci in web/)"
        )
    return dist


def chain_constants() -> dict[str, Any]:
    """The constants of :mod:`timbre.dsp` that the page's port uses (``chain.json``)."""
    return {
        "level": {
            "block_s": level.LEVEL_BLOCK_S,
            "step_s": level.LEVEL_STEP_S,
            "floor_db": level.LEVEL_FLOOR_DB,
            "loud_percentile": level.LEVEL_LOUD_PERCENTILE,
            "gate_db": level.LEVEL_GATE_DB,
        },
        "limiter": {"ceiling": level.LIMIT_CEILING, "ramp_s": level.LIMIT_RAMP_S},
        "edges": {"fit_s": edges.EDGE_FIT_S, "order_s": edges.EDGE_ORDER_S},
        "tiling": {"window_floor": tiling.WINDOW_FLOOR},
        "convert": {"keep_level": ConvertConfig.keep_level},
    }


def chain_settings(config: SpectrogramConfig, origin_level_db: float | None) -> dict[str, Any]:
    """What the port's chain needs of a model: its spectrogram settings, the level it was
    trained at (:data:`timbre.convert.converter.DEFAULT_ORIGIN_LEVEL_DB` when unrecorded)
    and the converter's default tiling plan for it (:meth:`TilingPlan.create`).
    """
    from timbre.convert.converter import DEFAULT_ORIGIN_LEVEL_DB

    plan = tiling.TilingPlan.create(config)
    return {
        "origin_level_db": DEFAULT_ORIGIN_LEVEL_DB if origin_level_db is None else origin_level_db,
        "spectrogram": dataclasses.asdict(config),
        "plan": {"overlap": plan.overlap, "context": plan.context, "batch_size": plan.batch_size},
    }


def model_entry(name: str, info: ModelInfo) -> dict[str, Any]:
    """What the page needs of one model directory (an entry of ``models.json``).

    Raises:
        ModelError: a model directory without ``generator.onnx``.
    """
    if info.generator_onnx is None:
        raise ModelError(
            f"{info.directory}: no generator.onnx, which the page runs; write it with "
            f"`timbre export --model {info.directory} --format generator_onnx`"
        )
    targets = list(info.targets) or [info.target]
    return {
        "name": name,
        "origin": info.origin,
        "targets": targets,
        "labels": [instruments.label(t) if t else "" for t in targets],  # as the menu shows them
        "multi_target": bool(info.targets),
        **chain_settings(info.spectrogram, info.origin_level_db),
        "onnx": f"models/{name}/generator.onnx",
    }


def is_site(folder: Path) -> bool:
    """True for a folder :func:`build_site` wrote (the only kind it replaces)."""
    return all((folder / name).is_file() for name in ("index.html", "models.json", "chain.json"))


def build_site(
    dest: str | os.PathLike = DEFAULT_SITE,
    models: dict[str, Path] | None = None,
    source: Path | None = None,
) -> Path:
    """Write the site to ``dest`` (replacing what is there, atomically) and return it.

    Args:
        dest: the site's folder.
        models: ``name -> model directory``; default every shipped model
            (:func:`timbre.formats.shipped.available`), the default one first.
        source: the page's sources; default :data:`SOURCE` (``web/``).

    Raises:
        ConfigError: ``dest`` holds something other than a site (never replaced), the
            sources or onnxruntime-web are missing, or there is no model.
        ModelError: a model directory that is not one, or has no ``generator.onnx``.
    """
    source = SOURCE if source is None else source
    if not (source / "index.html").is_file():
        raise ConfigError(
            f"{source}: the page's sources are missing (timbre web runs from a source checkout)"
        )
    dest = Path(dest)
    if dest.exists() and not is_site(dest) and not (dest.is_dir() and not any(dest.iterdir())):
        raise ConfigError(
            f"{dest}: exists and is not a site timbre built (it would be replaced); "
            "pass a new folder to --site"
        )
    dist = ort_folder(source)
    if models is None:
        models = shipped.available()
        if shipped.DEFAULT in models:
            models = {shipped.DEFAULT: models.pop(shipped.DEFAULT), **models}
    if not models:
        raise ConfigError("no models to serve (make pretrained builds the shipped one)")
    infos = [read_model_info(Path(directory)) for directory in models.values()]
    entries = [model_entry(name, info) for name, info in zip(models, infos)]
    with atomic_folder(dest) as tmp:
        tmp.chmod(0o755)  # a temporary folder is private; a site is not
        for name in PAGE_FILES:
            shutil.copy2(source / name, tmp / name)
        for name in CODE_FILES:
            shutil.copy2(source / "src" / name, tmp / name)
        (tmp / "ort").mkdir()
        for name in ORT_FILES:
            shutil.copy2(dist / name, tmp / "ort" / name)
        for entry, info in zip(entries, infos):
            (tmp / entry["onnx"]).parent.mkdir(parents=True)
            shutil.copy2(info.generator_onnx, tmp / entry["onnx"])
        write_json(tmp / "models.json", entries)
        write_json(tmp / "chain.json", chain_constants())
    return dest
