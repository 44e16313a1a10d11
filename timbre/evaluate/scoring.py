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
computed from the means over pieces (see :func:`gap_closed`); for the flatness
ratio (best at 1) the distance is ``|log ratio|``. Means over pieces are
arithmetic, but the flatness ratio's, which is geometric (2x and 0.5x average to 1x).
``notes_kept`` (the note F1 of each output against the input, both transcribed by
basic-pitch: :mod:`timbre.evaluate.notes`) is 1 for identity by definition, so it has
no gap to close: read it as it is, against the oracle's (the target's notes as the
same transcriber hears them).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from timbre.data import recorded
from timbre.data.transcribe import Transcriber
from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.errors import ConfigError, ModelError
from timbre.evaluate import metrics
from timbre.evaluate.config import (
    DEFAULT_CONFIG,
    MODEL_SYSTEMS,
    PHASE_OF_SYSTEM,
    SYSTEMS,
    EvalConfig,
)
from timbre.evaluate.notes import notes_kept
from timbre.evaluate.pairs import (
    Pair,
    as_recorded,
    as_recording,
    folder_pairs,
    load_pair,
    split_pairs,
)
from timbre.evaluate.report import EvalResults, summary_table, write_results
from timbre.formats.model_dir import ModelDir, ModelInfo, read_model_info
from timbre.io.atomic import atomic_path
from timbre.settings import SpectrogramConfig

GAP_TOLERANCE = 1e-9  # |identity - oracle| at or below this leaves the gap undefined (NaN)
FLATNESS_GAP_MIN = math.log(1.1)  # flatness: the input must be 10 % further off than the oracle


class ConverterLike(Protocol):
    """What :func:`evaluate_pairs` needs of a converter
    (:class:`timbre.convert.converter.Converter`).
    """

    def convert(self, audio: np.ndarray, sample_rate: int) -> np.ndarray: ...

    def tile_borders(self, n_frames: int) -> np.ndarray: ...


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
    transcriber: Transcriber | None = None,
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
        transcriber: transcribes every output for ``notes_kept`` (the note F1 of each against
            the input's, :mod:`timbre.evaluate.notes`); ``None`` leaves it NaN.

    Returns:
        ``{system: {metric: value}}`` in :data:`SYSTEMS` order.
    """
    borders = next(iter(converters.values())).tile_borders(
        sp.n_frames_for(len(target), spectrogram)
    )
    outputs = {"identity": origin, "oracle": oracle(origin, target, spectrogram)}
    outputs.update(
        {
            system: converter.convert(origin, sample_rate=spectrogram.sample_rate)
            for system, converter in converters.items()
        }
    )
    rate = spectrogram.sample_rate
    leveled = {
        system: at_level_of(np.asarray(outputs[system], dtype=np.float32), target, rate)
        for system in SYSTEMS
        if system in outputs
    }
    kept = {} if transcriber is None else notes_kept(transcriber, leveled, rate, "identity")
    return {
        system: metrics.score(
            estimate,
            target,
            rate,
            max_hz,
            spectrogram,
            borders,
            notes_kept=kept.get(system, float("nan")),
        )
        for system, estimate in leveled.items()
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
    worse than identity could show a positive share. ``flatness_ratio`` is best
    at 1, so its distance ``|log ratio|`` takes its place (a model 2x too flat and
    one 2x too sparse are equally far), and its gap exists only when the input is
    off by more than :data:`FLATNESS_GAP_MIN` beyond the oracle (a hair's gap would
    turn any difference into thousands of percent). Always NaN for ``seam_ratio``
    (identity and oracle have no tile seams: no gap to close).
    """
    result = {}
    for system in (name for name in SYSTEMS if name in PHASE_OF_SYSTEM and name in mean):
        gaps = {}
        for metric in metrics.METRICS:
            identity, model, best = (
                _distance(metric, mean["identity"][metric]),
                _distance(metric, mean[system][metric]),
                _distance(metric, mean["oracle"][metric]),
            )
            better = best - identity if metric in metrics.HIGHER_IS_BETTER else identity - best
            least = FLATNESS_GAP_MIN if metric == "flatness_ratio" else GAP_TOLERANCE
            undefined = metric == "seam_ratio" or not better > least or math.isnan(model)
            gaps[metric] = (
                float("nan") if undefined else float((identity - model) / (identity - best))
            )
        result[system] = gaps
    return result


def _distance(metric: str, value: float) -> float:
    """What the gap of ``metric`` is measured in: ``|log value|`` for the flatness ratio."""
    if metric == "flatness_ratio":
        return abs(math.log(value)) if value > 0 else float("nan")
    return value


def evaluate_pairs(
    pairs: Sequence[Pair],
    converters: Mapping[str, ConverterLike],
    spectrogram: SpectrogramConfig,
    config: EvalConfig = DEFAULT_CONFIG,
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
        holds the compared band, sample rate, piece count and seconds scored (and, in the
        ``recorded`` condition, ``recordings``: what each piece got).

    Raises:
        ConfigError: no pairs or no converter.
        MissingExtraError: the ``recorded`` condition without its libraries.
    """
    if not pairs:
        raise ConfigError("pairs: none given (expected at least one piece to score)")
    if not converters:
        raise ConfigError("converters: none given (expected at least one model system)")
    if config.condition == "recorded":
        recorded.require()
    transcriber = Transcriber() if config.notes else None  # loaded once; fails before any work
    max_hz = min(config.max_hz, spectrogram.max_hz, spectrogram.sample_rate / 2)
    pieces, seconds, recordings = {}, 0.0, {}
    for pair in tqdm(pairs, desc="evaluate", unit="piece", disable=not progress):
        origin, target = load_pair(pair, spectrogram.sample_rate, config.max_seconds)
        if config.condition == "excerpt":
            origin, target = as_recording(origin, target, pair.name, config)
        elif config.condition == "recorded":
            origin, target, recordings[pair.name] = as_recorded(
                origin, target, pair.name, config, spectrogram.sample_rate
            )
        pieces[pair.name] = score_piece(
            origin, target, converters, spectrogram, max_hz, transcriber
        )
        seconds += len(target) / spectrogram.sample_rate
    mean = {
        system: {
            metric: _nanmean([pieces[p][system][metric] for p in pieces], metric)
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
        **({"recordings": recordings} if recordings else {}),
    }
    return EvalResults(pieces=pieces, mean=mean, gap_closed=gap_closed(mean), settings=settings)


def _nanmean(values: Sequence[float], metric: str = "") -> float:
    """The mean of the values that are not NaN (geometric for the flatness ratio)."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return float("nan")
    if metric == "flatness_ratio":
        return float(np.exp(np.mean(np.log(np.maximum(finite, 1e-30)))))
    return float(np.mean(finite))


def load_converters(
    model: str | os.PathLike | ModelInfo, config: EvalConfig, target: str | None = None
) -> dict[str, ConverterLike]:
    """One :class:`timbre.convert.converter.Converter` per model system of ``config.phase``,
    sharing one generator (a multi-target model's bound to ``target``, default its first).
    """
    from timbre.convert import converter  # only scoring a model needs a conversion runtime

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


def evaluate(
    model_path: str | os.PathLike,
    *,
    features_path: str | os.PathLike | None = None,
    origin_dir: str | os.PathLike | None = None,
    target_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    config: EvalConfig = DEFAULT_CONFIG,
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
        MissingExtraError: the ``recorded`` condition without its libraries.
        ModelError, DatasetError, AudioError: as the functions called.
    """
    folders = (origin_dir is not None, target_dir is not None)
    if (features_path is not None and any(folders)) or (features_path is None and not all(folders)):
        raise ConfigError(
            "evaluate: give either features_path or both origin_dir and target_dir "
            f"(got features_path={features_path}, origin_dir={origin_dir}, target_dir={target_dir})"
        )
    if config.condition == "recorded":
        recorded.require()  # before any work
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
    config: EvalConfig = DEFAULT_CONFIG,
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
