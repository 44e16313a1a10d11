"""The results of an evaluation and the files that hold them: JSON, CSV, Markdown and a plot.

:class:`EvalResults` is the record; :func:`write_results` writes one run's
``results.{json,csv,md}`` and ``eval.png``; :func:`markdown_table` is the
systems-by-metrics table, :func:`summary_table` one row per target of a
multi-target model.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from timbre import plotting
from timbre.evaluate import metrics
from timbre.io.atomic import atomic_path, write_json


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


def markdown_table(results: EvalResults) -> str:
    """Systems x metrics (means over pieces) and a "gap closed" row per model system (Markdown)."""
    arrows = {
        **{m: "↓" for m in metrics.LOWER_IS_BETTER},
        **{m: "↑" for m in metrics.HIGHER_IS_BETTER},
        **{m: "≈1" for m in metrics.RATIOS},
    }
    header = "| system | " + " | ".join(f"{m} {arrows[m]}" for m in metrics.METRICS) + " |"
    lines = [header, "|" + " --- |" * (len(metrics.METRICS) + 1)]
    for system, values in results.mean.items():
        lines.append(
            f"| {system} | " + " | ".join(_format(values[m]) for m in metrics.METRICS) + " |"
        )
    for system, gaps in results.gap_closed.items():
        cells = (_share(gaps[m]) for m in metrics.METRICS)
        lines.append(f"| gap closed: {system} | " + " | ".join(cells) + " |")
    settings = results.settings
    caption = (
        f"Means over {settings['n_pieces']} pieces ({settings['seconds']:.1f} s) at "
        f"{settings['sample_rate']} Hz, band 0-{settings['max_hz_used']:.0f} Hz. Gap closed = "
        "(identity - model) / (identity - oracle): 100 % reaches the oracle, 0 % is no better than "
        "the origin; for flatness_ratio (output's spectral flatness / the target's: above 1 a "
        "haze fills the space between the harmonics; geometric mean over pieces) the distance "
        "is |log ratio|. Every output is brought to the target's level before it is scored."
    )
    return _condition_text(settings) + "\n\n" + "\n".join(lines) + "\n\n" + caption + "\n"


def _condition_text(settings: Mapping[str, Any]) -> str:
    condition = settings.get("condition", "clean")
    if condition == "clean":
        return "Condition: clean (whole pieces as rendered)."
    if condition == "recorded":
        return (
            "Condition: recorded (" + recording_text(settings["recording"], settings["seed"]) + ")."
        )
    low, high = settings["excerpt_peak_db"]
    return (
        "Condition: as recordings arrive (each piece cut mid-piece at both ends, the input at a "
        f"random peak level from {low:g} to {high:g} dBFS, seed {settings['seed']})."
    )


def recording_text(ranges: Mapping[str, Any], seed: int | None = None) -> str:
    """The ranges of the ``recorded`` condition in words.

    Args:
        ranges: :class:`timbre.data.recorded.RecordingConfig` as a dict.
        seed: the run's seed, named when given.
    """

    def span(key: str, unit: str = "") -> str:
        low, high = ranges[key]
        return f"{low:g} to {high:g}{unit}"

    sides = " x ".join(f"{low:g}-{high:g}" for low, high in ranges["room_m"])
    rates = "/".join(f"{rate / 1000:g}" for rate in ranges["band_rates"])
    return (
        f"each piece's input through a simulated room ({sides} m, RT60 {span('rt60_s', ' s')}, "
        f"microphone {span('distance_m', ' m')} away; pyroomacoustics), a microphone's EQ "
        f"(low shelf {span('low_shelf_db', ' dB')}, presence peak {span('presence_db', ' dB')} "
        f"at {span('presence_hz', ' Hz')}, high shelf {span('high_shelf_db', ' dB')}), noise at "
        f"{span('snr_db', ' dB')} SNR, a band limit (resampled to {rates} kHz and back) and MP3 "
        f"(VBR quality {span('mp3_quality')}; pedalboard), drawn per piece"
        + (f", seed {seed}" if seed is not None else "")
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


def summary_table(results: Mapping[str, EvalResults]) -> str:
    """One row per target: the model's scores and the share of the gap it closes (Markdown)."""
    lines = [
        "| target | model lsd_db ↓ | identity | oracle | gap closed (lsd) | gap closed (sc) | "
        "flatness ratio (model) | gap closed (flatness) | gap closed (log-mel) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for target, result in results.items():
        model = next(iter(result.gap_closed))  # "model", or "model_griffinlim" alone
        mean, gaps = result.mean, result.gap_closed[model]
        cells = [_format(mean[system]["lsd_db"]) for system in (model, "identity", "oracle")]
        cells += [_share(gaps["lsd_db"]), _share(gaps["sc"])]
        cells += [_format(mean[model]["flatness_ratio"]), _share(gaps["flatness_ratio"])]
        cells.append(_share(gaps["logmel_l1_db"]))
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{round(100 * value, 1) + 0.0:.1f} %"


HEADLINE = (  # (column, where in a results.json, metric)
    ("LSD gap closed", "gap_closed", "lsd_db"),
    ("SC gap closed", "gap_closed", "sc"),
    ("flatness ratio", "mean", "flatness_ratio"),
    ("flatness gap closed", "gap_closed", "flatness_ratio"),
)


def headline_table(rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """The model's headline figures, one row per (test pieces, condition) (Markdown).

    Args:
        rows: ``(pieces label, condition label, results)``, ``results`` as
            :meth:`EvalResults.to_dict` writes it (``None`` for NaN).

    Returns:
        LSD and spectral-convergence gap closed, the flatness ratio (output / target) and its
        gap closed, of system ``model``.
    """
    lines = [
        "| test pieces | condition | " + " | ".join(c for c, _, _ in HEADLINE) + " |",
        "| --- | --- |" + " --- |" * len(HEADLINE),
    ]
    for pieces, condition, results in rows:
        cells = []
        for _, part, metric in HEADLINE:
            value = results[part]["model"].get(metric)
            value = float("nan") if value is None else float(value)
            cells.append(_share(value) if part == "gap_closed" else f"{_format(value)}x")
        lines.append(f"| {pieces} | {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
