"""Tiles: where they go on a spectrogram, how they are cut, and how the generator's tiles blend
back into one spectrogram (a normalised window, so seams do not show); :class:`TilingPlan`
gathers a conversion's choices.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from timbre.dsp import stft
from timbre.errors import ConfigError
from timbre.settings import PHASES, ConvertConfig, SpectrogramConfig

WINDOW_FLOOR = 1e-3  # smallest blend weight, so every frame is covered by some weight


def tile_starts(n_frames: int, tile_frames: int, overlap: int = 0) -> np.ndarray:
    """First frame of each tile covering ``n_frames`` frames.

    Tiles step by ``tile_frames - overlap``; the last tile sits flush with the
    end (so it may share more than ``overlap`` frames with its neighbour)
    instead of being mostly padding. Fewer frames than one tile give one tile
    at 0 (padded), zero frames give no tile.

    Raises:
        ConfigError: ``tile_frames <= 0``, ``overlap`` outside [0, tile_frames) or ``n_frames < 0``.
    """
    if tile_frames <= 0:
        raise ConfigError(f"tile_frames={tile_frames} must be a positive integer")
    if not 0 <= overlap < tile_frames:
        raise ConfigError(f"overlap={overlap} must lie in [0, tile_frames={tile_frames})")
    if n_frames < 0:
        raise ConfigError(f"n_frames={n_frames} must be >= 0")
    if n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    if n_frames <= tile_frames:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - tile_frames, tile_frames - overlap, dtype=np.int64)
    return np.append(starts, n_frames - tile_frames)


def tile_borders(n_frames: int, tile_frames: int, overlap: int = 0) -> np.ndarray:
    """Frames where a tile of :func:`tile_starts` begins or ends, inside (0, n_frames).

    A border ``b`` means the step from frame ``b - 1`` to frame ``b`` crosses a tile edge.
    """
    starts = tile_starts(n_frames, tile_frames, overlap)
    edges = np.concatenate([starts, starts + tile_frames])
    return np.unique(edges[(edges > 0) & (edges < n_frames)])


def tile(spectrogram: np.ndarray, tile_frames: int, overlap: int = 0) -> np.ndarray:
    """Cut (n_bins, n_frames) into tiles of shape (n_tiles, n_bins, tile_frames).

    Positions follow :func:`tile_starts`; a spectrogram shorter than one tile
    is padded at the end with :data:`timbre.dsp.stft.SILENCE`.
    """
    spectrogram = np.asarray(spectrogram)
    if spectrogram.ndim != 2:
        raise ConfigError(f"spectrogram: shape {spectrogram.shape} (expected (n_bins, n_frames))")
    n_bins, n_frames = spectrogram.shape
    starts = tile_starts(n_frames, tile_frames, overlap)
    if n_frames < tile_frames:
        spectrogram = np.pad(
            spectrogram, ((0, 0), (0, tile_frames - n_frames)), constant_values=stft.SILENCE
        )
    tiles = np.empty((len(starts), n_bins, tile_frames), dtype=spectrogram.dtype)
    for i, start in enumerate(starts):
        tiles[i] = spectrogram[:, start : start + tile_frames]
    return tiles


def blend_window(tile_frames: int, fade_frames: int, context_frames: int = 0) -> np.ndarray:
    """Blend weights of one tile, shape (tile_frames,), all positive.

    ``context_frames`` at each edge get only :data:`WINDOW_FLOOR` weight (they
    count only where no other tile covers the frame); the next ``fade_frames``
    ramp linearly up to 1.
    """
    if context_frames < 0 or fade_frames < 0 or 2 * context_frames >= tile_frames:
        raise ConfigError(
            f"blend_window: context_frames={context_frames}, fade_frames={fade_frames} "
            f"do not fit a tile of {tile_frames} frames"
        )
    fade = min(fade_frames, tile_frames // 2 - context_frames)
    distance = np.minimum(np.arange(tile_frames), np.arange(tile_frames)[::-1]) - context_frames
    ramp = (distance + 0.5) / fade if fade > 0 else np.ones(tile_frames)
    return np.clip(ramp, WINDOW_FLOOR, 1.0).astype(np.float64)


def blend(
    tiles: np.ndarray, n_frames: int, overlap: int = 0, window: np.ndarray | None = None
) -> np.ndarray:
    """Overlap-add tiles back into (n_bins, n_frames), normalised by the summed window.

    Inverse of :func:`tile` with the same ``overlap``: blending unmodified
    tiles returns the original spectrogram.

    Args:
        tiles: shape (n_tiles, n_bins, tile_frames), positioned by :func:`tile_starts`.
        n_frames: frames of the result.
        overlap: the overlap the tiles were cut with.
        window: per-frame weights, shape (tile_frames,), all positive;
            default :func:`blend_window` with ``fade_frames=overlap``.

    Returns:
        float32 array (n_bins, n_frames).

    Raises:
        ConfigError: the tile count does not match ``n_frames`` and ``overlap``.
    """
    n_tiles, n_bins, tile_frames = tiles.shape
    starts = tile_starts(n_frames, tile_frames, overlap)
    if len(starts) != n_tiles:
        raise ConfigError(
            f"tiles: {n_tiles} tiles for n_frames={n_frames}, overlap={overlap} (expected "
            f"{len(starts)})"
        )
    weights = (
        blend_window(tile_frames, overlap)
        if window is None
        else np.asarray(window, dtype=np.float64)
    )
    total = max(n_frames, tile_frames)
    summed = np.zeros((n_bins, total), dtype=np.float64)
    weight_sum = np.zeros(total, dtype=np.float64)
    for start, one_tile in zip(starts, tiles):
        summed[:, start : start + tile_frames] += one_tile * weights
        weight_sum[start : start + tile_frames] += weights
    return (summed[:, :n_frames] / np.maximum(weight_sum[:n_frames], 1e-12)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class TilingPlan:
    """How a recording is cut into tiles, blended back and turned into audio (no model in it).

    Build it with :meth:`create`, which fills in the defaults and checks every
    field (a plan that exists is valid).
    """

    spectrogram: SpectrogramConfig  # STFT and tile settings the generator was trained with
    overlap: int  # frames shared by neighbouring tiles
    context: int  # edge frames of each tile whose output is (almost) discarded
    batch_size: int  # tiles per generate call
    phase: str = ConvertConfig.phase  # "input": the input's phase; "griffinlim": Griffin-Lim
    iterations: int = ConvertConfig.iterations  # Griffin-Lim iterations

    @classmethod
    def create(
        cls,
        spectrogram: SpectrogramConfig,
        *,
        overlap: int | None = None,
        context: int | None = None,
        batch_size: int = ConvertConfig.batch_size,
        phase: str = ConvertConfig.phase,
        iterations: int = ConvertConfig.iterations,
    ) -> TilingPlan:
        """A checked plan; ``overlap`` defaults to ``tile_frames // 4``, ``context`` to
        ``overlap // 4``.

        Raises:
            ConfigError: an unknown phase, a negative or non-integer count, or
                ``overlap``/``context`` that do not fit a tile (``2 * context <= overlap <
                tile_frames``).
        """
        tile_frames = spectrogram.tile_frames
        overlap = tile_frames // 4 if overlap is None else overlap
        context = overlap // 4 if context is None else context
        if phase not in PHASES:
            raise ConfigError(f"phase={phase!r} (expected one of {PHASES})")
        for name, value, low in (
            ("iterations", iterations, 1),
            ("batch_size", batch_size, 1),
            ("overlap", overlap, 0),
            ("context", context, 0),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name}={value!r} must be an integer >= {low}")
        if overlap >= tile_frames or 2 * context > overlap:
            raise ConfigError(
                f"overlap={overlap}, context={context} (expected 2 * context <= overlap < "
                f"tile_frames={tile_frames})"
            )
        return cls(spectrogram, int(overlap), int(context), int(batch_size), phase, int(iterations))

    @property
    def step(self) -> int:
        """Frames from one tile's start to the next's."""
        return self.spectrogram.tile_frames - self.overlap

    @functools.cached_property
    def window(self) -> np.ndarray:
        """Blend weights of one tile, shape (tile_frames,): :func:`blend_window`
        with a cross-fade of ``overlap - 2 * context`` frames after ``context`` frames of context.
        """
        return blend_window(
            self.spectrogram.tile_frames, self.overlap - 2 * self.context, self.context
        )

    @functools.cached_property
    def stft_window(self) -> np.ndarray:
        """The periodic Hann window of ``n_fft`` samples (float64), as ``librosa.stft``'s."""
        return stft.hann_window(self.spectrogram.n_fft)

    @functools.cached_property
    def magnitude_scale(self) -> float:
        """:func:`timbre.dsp.stft.magnitude_scale` (``2 / sum(window)``) of the same window."""
        return stft.magnitude_scale(self.spectrogram)

    @property
    def edge_frames(self) -> int:
        """Frames of predicted signal analysed before the first and after the last sample:
        ``context + 1``, so the input's first frame sits past the first tile's context and,
        at the end, every input sample lies between two frame centres.
        """
        return self.context + 1

    @property
    def edge_samples(self) -> int:
        """``edge_frames * hop_length``: samples predicted at each end
        (:func:`timbre.dsp.edges.pad_edges`); a whole number of hops, so the padded
        signal's frames are the input's frames shifted by ``edge_frames``.
        """
        return self.edge_frames * self.spectrogram.hop_length

    def tile_borders(self, n_frames: int) -> np.ndarray:
        """Frames of the input's spectrogram (``n_frames`` frames) where tile edges lie."""
        edge = self.edge_frames
        borders = tile_borders(n_frames + 2 * edge, self.spectrogram.tile_frames, self.overlap)
        borders = borders - edge
        return borders[(borders > 0) & (borders < n_frames)]
