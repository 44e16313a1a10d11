"""Figures people would rather look at than read. Functions return matplotlib Figures.

The Agg backend is used (no display, never ``plt.show``); :func:`save_figure`
writes a PNG atomically and closes the figure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from timbre.io.atomic import atomic_path  # noqa: E402
from timbre.settings import SpectrogramConfig  # noqa: E402


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write ``figure`` as a PNG atomically, then close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(figure)


def spectrogram_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    config: SpectrogramConfig,
    title: str | None = None,
    max_hz: float | None = None,
) -> Figure:
    """Side-by-side normalised log-magnitude spectrograms (e.g. input | prediction | target).

    Args:
        panels: ``(label, spectrogram)`` pairs; each spectrogram (n_bins, n_frames) in [-1, 1].
        config: settings that made them (for the time and frequency axes).
        title: figure title.
        max_hz: the highest frequency to draw (a file's Nyquist frequency: a 16 kHz recording
            has nothing above 8 kHz to show); ``None``: the whole kept band.
    """
    rows = panels[0][1].shape[0] if panels else config.n_bins
    if max_hz is not None and max_hz < config.max_hz:
        rows = max(1, min(rows, int(max_hz * config.n_fft / config.sample_rate) + 1))
    panels = [(label, spectrogram[:rows]) for label, spectrogram in panels]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True
    )
    image = None
    for axis, (label, spectrogram) in zip(axes[0], panels):
        seconds = spectrogram.shape[1] * config.hop_length / config.sample_rate
        image = axis.imshow(
            spectrogram,
            origin="lower",
            aspect="auto",
            vmin=-1,
            vmax=1,
            cmap="magma",
            extent=(0, seconds, 0, rows * config.sample_rate / config.n_fft / 1000),
        )
        axis.set_title(label)
        axis.set_xlabel("time (s)")
    axes[0][0].set_ylabel("frequency (kHz)")
    if image is not None:
        figure.colorbar(image, ax=axes[0].tolist(), label="normalised log magnitude", shrink=0.9)
    if title:
        figure.suptitle(title, y=1.04)  # above the panel titles, not over them
    return figure


def history_figure(
    history: Mapping[str, Sequence[float]], x_label: str = "epoch", title: str = "training curves"
) -> Figure:
    """Curves of every series in ``history`` (e.g. ``gen_l1`` and ``val_gen_l1`` per epoch).

    Series whose names differ only by a ``val_`` prefix share one panel.
    """
    names = sorted({name.removeprefix("val_") for name in history})
    figure, axes = plt.subplots(
        1, max(len(names), 1), figsize=(3.6 * max(len(names), 1), 3.0), squeeze=False
    )
    for axis, name in zip(axes[0], names):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history and len(history[key]):
                values = np.asarray(history[key], dtype=float)
                axis.plot(np.arange(1, len(values) + 1), values, style, marker=".", label=key)
        axis.set_title(name)
        axis.set_xlabel(x_label)
        axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def metrics_figure(values: Mapping[str, Mapping[str, float]], title: str = "evaluation") -> Figure:
    """One bar chart per metric, one bar per system (e.g. identity / model / oracle).

    Args:
        values: ``{system: {metric: value}}``; NaN values leave an empty slot.
        title: figure title.
    """
    systems = list(values)
    names = list(dict.fromkeys(name for scores in values.values() for name in scores))
    figure, axes = plt.subplots(
        1, max(len(names), 1), figsize=(2.6 * max(len(names), 1), 3.2), squeeze=False
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, name in zip(axes[0], names):
        heights = [float(values[system].get(name, np.nan)) for system in systems]
        axis.bar(
            range(len(systems)),
            np.nan_to_num(heights, nan=0.0),
            color=[colours[i % len(colours)] for i in range(len(systems))],
        )
        for x, height in enumerate(heights):
            axis.text(
                x,
                0 if np.isnan(height) else height,
                "n/a" if np.isnan(height) else f"{height:.3g}",
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
        axis.set_xticks(range(len(systems)), systems, rotation=30, ha="right", fontsize="small")
        axis.set_title(name, fontsize="medium")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def lr_finder_figure(
    learning_rates: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    suggestion: float,
) -> Figure:
    """Loss against learning rate (log axis) of a learning-rate sweep, the suggestion marked.

    Args:
        learning_rates: learning rate of each step.
        losses: loss of each step.
        smoothed: smoothed loss of each step.
        suggestion: the suggested learning rate (steepest descent of ``smoothed``).
    """
    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    rates = np.asarray(learning_rates, dtype=float)
    axis.plot(rates, np.asarray(losses, dtype=float), alpha=0.35, label="loss")
    axis.plot(rates, np.asarray(smoothed, dtype=float), label="smoothed")
    at = int(np.argmin(np.abs(np.log(rates) - np.log(suggestion))))
    axis.plot(
        [rates[at]],
        [np.asarray(smoothed)[at]],
        "o",
        color="red",
        label=f"steepest descent: {suggestion:.2e}",
    )
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("loss")
    axis.legend(fontsize="small")
    axis.set_title("learning-rate sweep")
    figure.tight_layout()
    return figure
