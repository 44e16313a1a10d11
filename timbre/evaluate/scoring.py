"""Scoring conversions against the true target instrument on held-out pieces.

For every test piece (the test split of a features manifest, or two folders of
aligned audio) four systems are compared with the target recording, all at the
model's sample rate and over the same samples:

- ``model``: the converter with the input's phase (``--phase input`` or ``both``);
- ``model_griffinlim``: the converter with Griffin-Lim phase (``griffinlim`` or ``both``);
- ``identity``: the origin audio itself (what doing nothing scores);
- ``oracle``: the target's own normalised log magnitude with the origin's phase
  through :func:`timbre.dsp.stft.invert_log_spectrogram`, the best an
  input-phase reconstruction in this representation can reach.

Metrics are those of :mod:`timbre.evaluate.metrics`. The share of the identity-to-oracle
gap a model closes is ``(identity - model) / (identity - oracle)`` per metric,
computed from the means over pieces (see :func:`gap_closed`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.errors import ConfigError, DatasetError, ModelError
from timbre.evaluate import metrics
from timbre.formats.feature_store import load_manifest
from timbre.formats.model_dir import ModelDir, ModelInfo, read_model_info
from timbre.io import audio, plotting
from timbre.io.atomic import atomic_path, write_json
from timbre.settings import SpectrogramConfig

SYSTEMS = ("identity", "model", "model_griffinlim", "oracle")  # display order
MODEL_SYSTEMS = {
    "input": ("model",),
    "griffinlim": ("model_griffinlim",),
    "both": ("model", "model_griffinlim"),
}
PHASE_OF_SYSTEM = {"model": "input", "model_griffinlim": "griffinlim"}
CONDITIONS = ("clean", "excerpt")
EXCERPT_START = (0.1, 0.4)  # excerpt: the cut-in point, as a share of the piece's length
EXCERPT_END = (0.6, 0.9)  # ... and the cut-out point
GAP_TOLERANCE = 1e-9  # |identity - oracle| at or below this leaves the gap undefined (NaN)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (recorded in ``results.json``)."""

    phase: str = "input"  # input | griffinlim | both: which model systems are scored
    iterations: int = 32  # Griffin-Lim iterations of the model_griffinlim system
    batch_size: int = 8  # tiles per generator call
    max_hz: float = 8000.0  # upper edge of the compared band, Hz (also capped at the model's band)
    max_pieces: int | None = None  # score only the first N pieces (sorted by name)
    max_seconds: float | None = None  # score only the first S seconds of each piece
    condition: str = "clean"  # clean: pieces as rendered; excerpt: as recordings arrive
    excerpt_peak_db: tuple[float, float] = (-35.0, -1.0)  # excerpt: range of the input's peak
    seed: int = 0  # excerpt: seeds each piece's cut points and level

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ConfigError(
                f"EvalConfig: condition={self.condition!r} (expected one of {CONDITIONS})"
            )
        low, high = self.excerpt_peak_db
        if not -120.0 <= low <= high <= 0.0:
            raise ConfigError(
                f"EvalConfig: excerpt_peak_db={self.excerpt_peak_db!r} (expected (low, high) "
                "dBFS with -120 <= low <= high <= 0)"
            )
        if self.phase not in MODEL_SYSTEMS:
            raise ConfigError(
                f"EvalConfig: phase={self.phase!r} (expected one of {sorted(MODEL_SYSTEMS)})"
            )
        for name in ("iterations", "batch_size", "max_pieces"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"EvalConfig: {name}={value!r} must be a positive integer")
        for name in ("max_hz", "max_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"EvalConfig: {name}={value!r} must be positive")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One piece: the origin recording and the aligned target recording."""

    name: str
    origin: Path
    target: Path


class ConverterLike(Protocol):
    """What :func:`evaluate_pairs` needs of a converter
    (:class:`timbre.convert.converter.Converter`).
    """

    def convert(self, audio: np.ndarray) -> np.ndarray: ...

    def tile_borders(self, n_frames: int) -> np.ndarray: ...


@dataclasses.dataclass
class EvalResults:
    """Scores: ``pieces[piece][system][metric]``, ``mean[system][metric]``,
    ``gap_closed[system][metric]``.
    """

    pieces: dict[str, dict[str, dict[str, float]]]
    mean: dict[str, dict[str, float]]
    gap_closed: dict[str, dict[str, float]]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes ``None`` (JSON has no NaN)."""
        return _nan_to_none(
            {
                "settings": self.settings,
                "mean": self.mean,
                "gap_closed": self.gap_closed,
                "pieces": self.pieces,
            }
        )


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_model_settings(model_path: str | os.PathLike) -> tuple[str, str, SpectrogramConfig]:
    """``(origin, target, spectrogram)`` of a model directory (or its ``generator.keras``).

    Raises:
        The errors of :func:`model_info`.
    """
    info = model_info(model_path)
    return info.origin, info.target, info.spectrogram


def model_info(model_path: str | os.PathLike) -> ModelInfo:
    """The model's :class:`~timbre.formats.model_dir.ModelInfo`, read once, both instruments named.

    Raises:
        ModelError: not a model (see :func:`timbre.formats.model_dir.read_model_info`), or its
            ``config.json`` does not name the origin and target instruments.
    """
    info = read_model_info(model_path)
    missing = [key for key in ("origin", "target") if getattr(info, key) is None]
    if missing:
        raise ModelError(
            f"model: {ModelDir(info.directory).config} lacks {missing} "
            "(expected a config.json written by train.py)"
        )
    return info


def split_pairs(
    features_path: str | os.PathLike, origin: str, target: str, max_pieces: int | None = None
) -> list[Pair]:
    """The test-split pieces of a features folder, as (origin, target) audio pairs.

    Args:
        features_path: folder holding the feature store (compute_features.py).
        origin, target: instruments the model converts between.
        max_pieces: keep the first N pieces (sorted by name).

    Raises:
        DatasetError: missing folder or manifest, an instrument the features lack,
            an empty test split, a missing audio folder or audio file.
    """
    folder = Path(features_path)
    if not folder.is_dir():
        raise DatasetError(
            f"features: {folder} not found (expected the folder compute_features.py wrote)"
        )
    manifest = load_manifest(folder)
    for role, name in (("origin", origin), ("target", target)):
        if name not in manifest.instruments:
            raise DatasetError(
                f"features {folder}: no instrument {name!r}, the model's {role} "
                f"(features hold {list(manifest.instruments)}; the model converts "
                f"{origin} -> {target})"
            )
    pieces = sorted(manifest.split.get("test", []))
    if not pieces:
        raise DatasetError(
            f"features {folder}: the test split is empty ({manifest.split_counts()} pieces) "
            "(expected at least one test piece); or use --origin_dir/--target_dir"
        )
    if manifest.audios_path is None or not manifest.audios_path.is_dir():
        raise DatasetError(
            f"features {folder}: audios_path {manifest.audios_path} not found (expected the "
            "audio folder the features were computed from)"
        )
    pieces = pieces[:max_pieces] if max_pieces else pieces
    pairs = [
        Pair(piece, manifest.audio_path(origin, piece), manifest.audio_path(target, piece))
        for piece in pieces
    ]
    missing = [
        str(path) for pair in pairs for path in (pair.origin, pair.target) if not path.is_file()
    ]
    if missing:
        raise DatasetError(
            f"features {folder}: {len(missing)} audio files of the test pieces are missing "
            f"(e.g. {missing[0]}); was the audio folder moved or cleaned?"
        )
    return pairs


def folder_pairs(
    origin_dir: str | os.PathLike, target_dir: str | os.PathLike, max_pieces: int | None = None
) -> list[Pair]:
    """Pairs of audio files with the same name in two folders (files in one folder only are skipped,
    with a warning).

    Raises:
        DatasetError: a folder is missing, or the folders share no audio file name.
    """
    folders = {"origin_dir": Path(origin_dir), "target_dir": Path(target_dir)}
    for role, folder in folders.items():
        if not folder.is_dir():
            raise DatasetError(f"{role}: {folder} not found (expected a folder of audio files)")
    names = {
        role: {p.name for p in folder.iterdir() if audio.is_audio_file(p)}
        for role, folder in folders.items()
    }
    common = sorted(names["origin_dir"] & names["target_dir"])
    if not common:
        raise DatasetError(
            f"origin_dir {folders['origin_dir']} and target_dir {folders['target_dir']} share no "
            "audio file name (expected aligned recordings with the same names)"
        )
    unmatched = sorted(names["origin_dir"] ^ names["target_dir"])
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} audio files have no partner of the same name and are skipped "
            f"(e.g. {unmatched[0]})",
            stacklevel=2,
        )
    common = common[:max_pieces] if max_pieces else common
    return [
        Pair(Path(name).stem, folders["origin_dir"] / name, folders["target_dir"] / name)
        for name in common
    ]


def load_pair(
    pair: Pair, sample_rate: int, max_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Origin and target audio at ``sample_rate``, trimmed to a common length (and ``max_seconds``).

    Lengths that differ warn and are cut to the shorter (aligned pairs have equal lengths).
    """
    origin, _ = audio.load(pair.origin, sample_rate)
    target, _ = audio.load(pair.target, sample_rate)
    if len(origin) != len(target):
        warnings.warn(
            f"{pair.name}: origin has {len(origin)} samples, target {len(target)}; "
            "compared over the shorter",
            stacklevel=2,
        )
    length = min(len(origin), len(target))
    if max_seconds is not None:
        length = min(length, max(int(round(max_seconds * sample_rate)), 1))
    return origin[:length], target[:length]


def as_recording(
    origin: np.ndarray, target: np.ndarray, name: str, config: EvalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The pair as a recording arrives: cut mid-piece at both ends, the input at a random level.

    Cut points are drawn in :data:`EXCERPT_START` and :data:`EXCERPT_END` of the
    length (so the excerpt starts and ends wherever the music happens to be,
    mid-note as a rule); the origin is scaled to a peak drawn in
    ``config.excerpt_peak_db``. Both are drawn from ``config.seed`` and the
    piece's name. The target is cut alike and keeps its level.
    """
    digest = int(hashlib.sha1(name.encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng([config.seed, digest])
    n = len(origin)
    start, end = int(rng.uniform(*EXCERPT_START) * n), int(rng.uniform(*EXCERPT_END) * n)
    peak_db = rng.uniform(*config.excerpt_peak_db)
    origin = origin[start:end]
    peak = float(np.max(np.abs(origin))) if origin.size else 0.0
    if peak > 0.0:
        origin = (origin * (10 ** (peak_db / 20) / peak)).astype(np.float32)
    return origin, target[start:end]


def at_level_of(audio_in: np.ndarray, reference: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio_in`` with one gain that brings its active level to ``reference``'s.

    (:func:`timbre.io.lv.active_level_db`); silent audio is returned as it is.
    """
    have = lv.active_level_db(audio_in, sample_rate)
    want = lv.active_level_db(reference, sample_rate)
    if not (np.isfinite(have) and np.isfinite(want)):
        return audio_in
    return (audio_in * 10 ** ((want - have) / 20)).astype(np.float32)


def oracle(origin: np.ndarray, target: np.ndarray, spectrogram: SpectrogramConfig) -> np.ndarray:
    """The target's normalised log magnitude with the origin's phase, inverted to ``len(target)``
    samples.
    """
    magnitude, _ = sp.log_spectrogram(target, spectrogram)
    _, phase = sp.log_spectrogram(origin, spectrogram)
    return sp.invert_log_spectrogram(magnitude, phase, spectrogram, len(target))


def score_piece(
    origin: np.ndarray,
    target: np.ndarray,
    converters: Mapping[str, ConverterLike],
    spectrogram: SpectrogramConfig,
    max_hz: float,
) -> dict[str, dict[str, float]]:
    """Scores of identity, the converters' outputs and the oracle against ``target``.

    Every output is brought to the target's active level with one gain before it
    is scored (:func:`at_level_of`), so a level change alone earns nothing: the
    identity baseline is the input at the target's level.

    Args:
        origin, target: aligned audio of equal length at ``spectrogram.sample_rate``.
        converters: ``{system: converter}``, e.g. ``{"model": ...}``; the first one's
            tile borders are used for every system's ``seam_ratio``.
        spectrogram: the model's settings.
        max_hz: compared band, Hz.

    Returns:
        ``{system: {metric: value}}`` in :data:`SYSTEMS` order.
    """
    borders = next(iter(converters.values())).tile_borders(
        sp.n_frames_for(len(target), spectrogram)
    )
    outputs = {"identity": origin, "oracle": oracle(origin, target, spectrogram)}
    outputs.update({system: converter.convert(origin) for system, converter in converters.items()})
    rate = spectrogram.sample_rate
    return {
        system: metrics.score(
            at_level_of(np.asarray(outputs[system], dtype=np.float32), target, rate),
            target,
            spectrogram.sample_rate,
            max_hz,
            spectrogram,
            borders,
        )
        for system in SYSTEMS
        if system in outputs
    }


def gap_closed(mean: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Share of the identity-to-oracle gap each model system closes, per metric.

    ``gap = (identity - model) / (identity - oracle)``: 1 means as good as the
    oracle, 0 no better than the origin audio, < 0 worse than it, > 1 beyond
    the oracle. The ratio itself is the same for similarities (``chroma_cos``,
    higher is better): numerator and denominator both change sign. Signs
    matter only for when a gap exists at all: it is NaN unless the oracle is
    better than identity by more than ``GAP_TOLERANCE`` in the metric's own
    direction (lower for distances, higher for similarities); otherwise a model
    worse than identity could show a positive share. Always NaN for
    ``seam_ratio`` (identity and oracle have no tile seams: no gap to close).
    """
    result = {}
    for system in (name for name in SYSTEMS if name in PHASE_OF_SYSTEM and name in mean):
        gaps = {}
        for metric in metrics.METRICS:
            identity, model, best = (
                mean["identity"][metric],
                mean[system][metric],
                mean["oracle"][metric],
            )
            better = best - identity if metric in metrics.HIGHER_IS_BETTER else identity - best
            undefined = metric == "seam_ratio" or not better > GAP_TOLERANCE or math.isnan(model)
            gaps[metric] = (
                float("nan") if undefined else float((identity - model) / (identity - best))
            )
        result[system] = gaps
    return result


def evaluate_pairs(
    pairs: Sequence[Pair],
    converters: Mapping[str, ConverterLike],
    spectrogram: SpectrogramConfig,
    config: EvalConfig = EvalConfig(),
    progress: bool = True,
) -> EvalResults:
    """Score every pair (tqdm progress over pieces) and summarise.

    Args:
        pairs: the pieces (:func:`split_pairs` or :func:`folder_pairs`).
        converters: ``{system: converter}`` for the model systems.
        spectrogram: the model's settings; audio is compared at its sample rate.
        config: evaluation settings.
        progress: show a progress bar.

    Returns:
        Per-piece scores, means over pieces (NaN-ignoring), gap closed; ``settings``
        holds the compared band, sample rate, piece count and seconds scored.

    Raises:
        ConfigError: no pairs or no converter.
    """
    if not pairs:
        raise ConfigError("pairs: none given (expected at least one piece to score)")
    if not converters:
        raise ConfigError("converters: none given (expected at least one model system)")
    max_hz = min(config.max_hz, spectrogram.max_hz, spectrogram.sample_rate / 2)
    pieces, seconds = {}, 0.0
    for pair in tqdm(pairs, desc="evaluate", unit="piece", disable=not progress):
        origin, target = load_pair(pair, spectrogram.sample_rate, config.max_seconds)
        if config.condition == "excerpt":
            origin, target = as_recording(origin, target, pair.name, config)
        pieces[pair.name] = score_piece(origin, target, converters, spectrogram, max_hz)
        seconds += len(target) / spectrogram.sample_rate
    mean = {
        system: {
            metric: _nanmean([pieces[p][system][metric] for p in pieces])
            for metric in metrics.METRICS
        }
        for system in SYSTEMS
        if system in pieces[pairs[0].name]
    }
    settings = {
        **dataclasses.asdict(config),
        "max_hz_used": max_hz,
        "sample_rate": spectrogram.sample_rate,
        "n_pieces": len(pieces),
        "seconds": round(seconds, 3),
    }
    return EvalResults(pieces=pieces, mean=mean, gap_closed=gap_closed(mean), settings=settings)


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def load_converters(
    model: str | os.PathLike | ModelInfo, config: EvalConfig, target: str | None = None
) -> dict[str, ConverterLike]:
    """One :class:`timbre.convert.converter.Converter` per model system of ``config.phase``,
    sharing one generator (a multi-target model's bound to ``target``, default its first).
    """
    from timbre.convert import converter  # imports TensorFlow: only when a model is actually loaded

    info = model if isinstance(model, ModelInfo) else read_model_info(model)
    generator, spectrogram = converter.load_generator(info, target=target)
    return {
        system: converter.Converter(
            generator,
            spectrogram,
            phase=PHASE_OF_SYSTEM[system],
            iterations=config.iterations,
            batch_size=config.batch_size,
            origin_level_db=info.origin_level_db,
        )
        for system in MODEL_SYSTEMS[config.phase]
    }


def markdown_table(results: EvalResults) -> str:
    """Systems x metrics (means over pieces) and a "gap closed" row per model system (Markdown)."""
    arrows = {
        **{m: "↓" for m in metrics.LOWER_IS_BETTER},
        **{m: "↑" for m in metrics.HIGHER_IS_BETTER},
        "seam_ratio": "≈1",
    }
    header = "| system | " + " | ".join(f"{m} {arrows[m]}" for m in metrics.METRICS) + " |"
    lines = [header, "|" + " --- |" * (len(metrics.METRICS) + 1)]
    for system, values in results.mean.items():
        lines.append(
            f"| {system} | " + " | ".join(_format(values[m]) for m in metrics.METRICS) + " |"
        )
    for system, gaps in results.gap_closed.items():
        cells = (
            "n/a" if math.isnan(gaps[m]) else f"{round(100 * gaps[m], 1) + 0.0:.1f} %"
            for m in metrics.METRICS
        )
        lines.append(f"| gap closed: {system} | " + " | ".join(cells) + " |")
    settings = results.settings
    caption = (
        f"Means over {settings['n_pieces']} pieces ({settings['seconds']:.1f} s) at "
        f"{settings['sample_rate']} Hz, band 0-{settings['max_hz_used']:.0f} Hz. Gap closed = "
        "(identity - model) / (identity - oracle): 100 % reaches the oracle, 0 % is no better than "
        f"the origin. {_condition_text(settings)} Every output is brought to the target's level "
        "before it is scored."
    )
    return "\n".join(lines) + "\n\n" + caption + "\n"


def _condition_text(settings: Mapping[str, Any]) -> str:
    if settings.get("condition", "clean") == "clean":
        return "Condition: clean (whole pieces as rendered)."
    low, high = settings["excerpt_peak_db"]
    return (
        "Condition: as recordings arrive (each piece cut mid-piece at both ends, the input at a "
        f"random peak level from {low:g} to {high:g} dBFS, seed {settings['seed']})."
    )


def _format(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def write_results(results: EvalResults, output_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``results.md`` and ``eval.png`` (atomically) into
    ``output_dir``.

    Returns:
        ``{"json": path, "csv": path, "markdown": path, "plot": path}``.
    """
    folder = Path(output_dir)
    paths = {
        "json": folder / "results.json",
        "csv": folder / "results.csv",
        "markdown": folder / "results.md",
        "plot": folder / "eval.png",
    }
    write_json(paths["json"], results.to_dict())
    with atomic_path(paths["csv"]) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["piece", "system", *metrics.METRICS])
        for piece, systems in results.pieces.items():
            for system, values in systems.items():
                writer.writerow([piece, system, *(repr(float(values[m])) for m in metrics.METRICS)])
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(markdown_table(results))
    title = (
        f"{results.settings.get('origin', 'origin')} -> {results.settings.get('target', 'target')}"
    )
    plotting.save_figure(plotting.metrics_figure(results.mean, title=title), paths["plot"])
    return paths


def evaluate(
    model_path: str | os.PathLike,
    *,
    features_path: str | os.PathLike | None = None,
    origin_dir: str | os.PathLike | None = None,
    target_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    config: EvalConfig = EvalConfig(),
    progress: bool = True,
    target: str | None = None,
) -> tuple[EvalResults, dict[str, Path]]:
    """Convert and score the test pieces of ``features_path`` (or two folders of aligned audio),
    write the results.

    Args:
        model_path: a model directory or its ``generator.keras``.
        features_path: features folder whose test split (and ``audios_path``) gives the pieces.
        origin_dir, target_dir: instead of ``features_path``: aligned audio, same file names.
        output_dir: where results go; default ``<model dir>/eval``.
        config: evaluation settings.
        progress: show a progress bar.
        target: the target a multi-target model converts to and is scored against (default:
            its first); :func:`evaluate_targets` scores every one.

    Returns:
        The results and the paths written (see :func:`write_results`).

    Raises:
        ConfigError: neither or both sources given, or only one of the two folders.
        ModelError, DatasetError, AudioError: as the functions called.
    """
    folders = (origin_dir is not None, target_dir is not None)
    if (features_path is not None and any(folders)) or (features_path is None and not all(folders)):
        raise ConfigError(
            "evaluate: give either features_path or both origin_dir and target_dir "
            f"(got features_path={features_path}, origin_dir={origin_dir}, target_dir={target_dir})"
        )
    info = model_info(model_path)
    target, _ = info.condition(target)
    origin, spectrogram = info.origin, info.spectrogram
    if features_path is not None:
        pairs = split_pairs(features_path, origin, target, config.max_pieces)
    else:
        pairs = folder_pairs(origin_dir, target_dir, config.max_pieces)
    converters = load_converters(info, config, target)
    results = evaluate_pairs(pairs, converters, spectrogram, config, progress)
    sources = {"features_path": features_path, "origin_dir": origin_dir, "target_dir": target_dir}
    results.settings.update(
        {
            "model": str(Path(model_path).resolve()),
            "origin": origin,
            "target": target,
            **{k: str(Path(v).resolve()) for k, v in sources.items() if v is not None},
        }
    )
    paths = write_results(
        results,
        output_dir if output_dir is not None else ModelDir(info.directory).eval,
    )
    return results, paths


def evaluate_targets(
    model_path: str | os.PathLike,
    features_path: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    config: EvalConfig = EvalConfig(),
    progress: bool = True,
) -> tuple[dict[str, EvalResults], Path]:
    """Score every target of a multi-target model against its own true renderings: one
    :func:`evaluate` per target into ``<output_dir>/<target>/``, then ``summary.md`` in
    ``output_dir`` (:func:`summary_table`).

    Returns:
        ``({target: results}, path of summary.md)``.

    Raises:
        ModelError: a single-target model (use :func:`evaluate`), and as :func:`evaluate`.
    """
    info = model_info(model_path)
    if not info.targets:
        raise ModelError(
            f"{info.directory}: a single-target model ({info.target}) (expected a multi-target "
            "one; evaluate scores this one)"
        )
    folder = Path(output_dir) if output_dir is not None else ModelDir(info.directory).eval
    results = {
        target: evaluate(
            model_path,
            features_path=features_path,
            output_dir=folder / target,
            config=config,
            progress=progress,
            target=target,
        )[0]
        for target in info.targets
    }
    path = folder / "summary.md"
    with atomic_path(path) as tmp:
        tmp.write_text(summary_table(results))
    return results, path


def summary_table(results: Mapping[str, EvalResults]) -> str:
    """One row per target: the model's score and the share of the gap it closes (Markdown)."""
    lines = [
        "| target | model lsd_db ↓ | identity | oracle | gap closed (lsd) | gap closed (log-mel) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for target, result in results.items():
        model = next(iter(result.gap_closed))  # "model", or "model_griffinlim" alone
        mean, gaps = result.mean, result.gap_closed[model]
        cells = [_format(mean[system]["lsd_db"]) for system in (model, "identity", "oracle")]
        shares = [
            "n/a" if math.isnan(gaps[m]) else f"{100 * gaps[m]:.1f} %"
            for m in ("lsd_db", "logmel_l1_db")
        ]
        lines.append(f"| {target} | " + " | ".join(cells + shares) + " |")
    return "\n".join(lines) + "\n"
