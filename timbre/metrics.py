"""Evaluation metrics: NumPy/librosa/SciPy only, no downloaded models.

Each metric documents its formula in its docstring.
"""

from __future__ import annotations

import numpy as np

from timbre import spectrogram as sp
from timbre.config import SpectrogramConfig
from timbre.errors import ConfigError


def seam_ratio(audio: np.ndarray, config: SpectrogramConfig, border_frames: np.ndarray) -> float:
    """Tile-seam ratio: how much the spectrum jumps at tile borders compared with elsewhere.

    With ``S`` the normalised log-magnitude of ``audio`` (:func:`timbre.spectrogram.log_spectrogram`)
    and ``d[t] = mean_f |S[f, t + 1] - S[f, t]|`` the frame-to-frame change,
    the ratio is ``mean(d[b - 1] for b in borders) / mean(d[t] for all other t)``.
    About 1 means no seams; a converter that cuts and pastes tiles scores well above 1.

    Args:
        audio: shape (n_samples,) at ``config.sample_rate``.
        config: spectrogram settings.
        border_frames: frames ``b`` where a tile edge lies between frames ``b - 1`` and ``b``
            (e.g. :func:`timbre.spectrogram.tile_borders`).

    Returns:
        The ratio; NaN when there is no border (a single tile) or no other frame.

    Raises:
        ConfigError: a border outside ``[1, n_frames - 1]``.
    """
    spectrogram, _ = sp.log_spectrogram(audio, config)
    change = np.mean(np.abs(np.diff(spectrogram, axis=1)), axis=0)
    borders = np.asarray(border_frames, dtype=np.int64)
    if borders.size and (borders.min() < 1 or borders.max() > len(change)):
        raise ConfigError(f"border_frames: values must lie in [1, {len(change)}] for {len(change) + 1} frames")
    at_border = np.zeros(len(change), dtype=bool)
    at_border[borders - 1] = True
    if not at_border.any() or at_border.all():
        return float("nan")
    return float(np.mean(change[at_border]) / max(np.mean(change[~at_border]), 1e-12))
