"""Level: a measure one transient cannot fool, and a limiter that only acts where needed.

:func:`active_level_db` (what conversion brings to the model's training level) is
:class:`LevelMeter` fed once, so a file measured block by block gets the same
level; :class:`PeakLimiter` keeps written conversions under full scale without
touching anything that was already below it.
"""

from __future__ import annotations

import numpy as np

LEVEL_BLOCK_S = 0.4  # active_level_db: RMS block length, s (EBU R128's momentary window)
LEVEL_STEP_S = 0.1  # ... hop between blocks, s
LEVEL_FLOOR_DB = -100.0  # ... blocks at or below this RMS (dBFS) are digital silence
LEVEL_LOUD_PERCENTILE = 95.0  # ... "the loud end" of a file: this percentile of its block levels
LEVEL_GATE_DB = 30.0  # ... blocks more than this below the loud end are pauses, not playing
LIMIT_CEILING = 0.99  # PeakLimiter: no sample leaves it above this (-0.09 dBFS)
LIMIT_RAMP_S = 0.01  # ... gain ramps into and out of a reduction over 2x this, s


def active_level_db(audio: np.ndarray, sample_rate: int) -> float:
    """The level a listener would call the recording's playing level, in dBFS RMS.

    The median RMS level of the 400 ms blocks (100 ms apart, as EBU R128's
    momentary loudness) that are *active*: above digital silence
    (:data:`LEVEL_FLOOR_DB`) and within :data:`LEVEL_GATE_DB` of the file's loud
    end (the :data:`LEVEL_LOUD_PERCENTILE` th percentile of its block levels),
    so pauses and decays into silence do not count. Not the peak, and not a
    power mean either: a transient, however loud, changes at most the five
    blocks that hold it, which a median over the file's blocks shrugs off
    (a 5 ms full-scale click in 30 s of playing at -40 dBFS moves a power mean
    by ~3 dB and this measure by ~0). Scaling the audio by ``g`` moves the
    result by exactly ``20 log10 g`` (every gate is relative), which is what
    level-invariant conversion needs. A full-scale sine measures -3.01 dB.
    Audio shorter than one block is one block.

    Args:
        audio: 1-D samples.
        sample_rate: Hz.

    Returns:
        The level in dB (float); ``-inf`` for silent or empty audio.
    """
    meter = LevelMeter(sample_rate)
    meter.add(audio)
    return meter.level_db()


class LevelMeter:
    """:func:`active_level_db` in bounded steps: ``add`` blocks of any size, then ``level_db``.

    Holds one float per 100 ms of audio; the result does not depend on how
    the audio was cut into blocks.
    """

    def __init__(self, sample_rate: int) -> None:
        self.step = max(1, round(LEVEL_STEP_S * sample_rate))  # samples per 100 ms chunk
        self.chunks_per_block = max(1, round(LEVEL_BLOCK_S / LEVEL_STEP_S))
        self._partial = np.zeros(0, dtype=np.float64)  # samples of the unfinished chunk
        self._sums: list[np.ndarray] = []  # sum of squares of each finished chunk
        self._total, self._count = 0.0, 0  # sum of squares and count of all samples

    def add(self, block: np.ndarray) -> None:
        """Take the next samples (1-D)."""
        data = np.concatenate([self._partial, np.asarray(block, dtype=np.float64).ravel()])
        whole = len(data) // self.step * self.step
        if whole:
            self._sums.append(np.sum(data[:whole].reshape(-1, self.step) ** 2, axis=1))
        self._partial = data[whole:]
        self._total += float(np.sum(np.asarray(block, dtype=np.float64) ** 2))
        self._count += int(np.size(block))

    def level_db(self) -> float:
        """The active level of everything added so far (see :func:`active_level_db`)."""
        sums = np.concatenate(self._sums) if self._sums else np.zeros(0)
        span = self.chunks_per_block
        if len(sums) < span:  # shorter than one block: the whole signal is the block
            powers = np.array([self._total / self._count if self._count else 0.0])
        else:
            running = np.concatenate([[0.0], np.cumsum(sums)])
            powers = (running[span:] - running[:-span]) / (span * self.step)
        levels = 10.0 * np.log10(np.maximum(powers, 1e-30))
        levels = levels[levels > LEVEL_FLOOR_DB]
        if not levels.size:
            return float("-inf")
        loud = np.percentile(levels, LEVEL_LOUD_PERCENTILE)
        return float(np.median(levels[levels >= loud - LEVEL_GATE_DB]))


def _window_minima(values: np.ndarray, size: int) -> np.ndarray:
    """``min(values[i : i + size])`` for each of the ``len(values) - size + 1`` full windows.

    The van Herk/Gil-Werman running minimum (minima from each block of ``size``
    samples' start and to its end; every window spans at most two blocks): O(n)
    in NumPy, exactly ``scipy.ndimage.minimum_filter1d`` on the windows that fit,
    without importing SciPy (0.2 s of ``predict.py``'s start-up).
    """
    values = np.asarray(values)
    blocks = -(-len(values) // size)
    grid = np.full(blocks * size, np.inf)
    grid[: len(values)] = values
    grid = grid.reshape(blocks, size)
    from_start = np.minimum.accumulate(grid, axis=1).ravel()
    to_end = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    count = len(values) - size + 1
    return np.minimum(to_end[:count], from_start[size - 1 : size - 1 + count])


class PeakLimiter:
    """A look-ahead peak limiter that leaves audio under :data:`LIMIT_CEILING` untouched.

    Each sample needs the gain ``min(1, ceiling / |x|)``; the applied gain is
    that need's running minimum over ``2 W + 1`` samples, smoothed by a moving
    average of the same length (``W`` = :data:`LIMIT_RAMP_S`). The average of
    minima that each include the sample never exceeds the sample's own need,
    so no output sample exceeds the ceiling, yet the gain moves in linear ramps
    of ``2 W`` samples (20 ms) into and out of a reduction: a transient is
    turned down for ~40 ms around itself and the rest of the file keeps its
    level (no whole-file gain). Output is delayed internally by ``2 W``
    samples; ``feed`` and ``finish`` together return exactly the samples fed.

    Attributes:
        reduction_db: the deepest gain reduction so far (<= 0 dB).
        limited: samples whose gain was reduced.
    """

    def __init__(
        self, sample_rate: int, ceiling: float = LIMIT_CEILING, ramp_s: float = LIMIT_RAMP_S
    ) -> None:
        self.ceiling, self.width = float(ceiling), max(1, round(ramp_s * sample_rate))
        self._needs = np.ones(2 * self.width)  # gain needs of the 2W samples before _held
        self._held = np.zeros(0, dtype=np.float32)  # samples waiting for their look-ahead
        self.reduction_db, self.limited = 0.0, 0

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take samples (1-D); return the limited samples whose look-ahead is complete."""
        block = np.asarray(block, dtype=np.float32)
        need = np.minimum(1.0, self.ceiling / np.maximum(np.abs(block), 1e-30))
        self._needs = np.concatenate([self._needs, need])
        self._held = np.concatenate([self._held, block])
        return self._emit()

    def finish(self) -> np.ndarray:
        """End of input: the remaining samples."""
        self._needs = np.concatenate([self._needs, np.ones(2 * self.width)])
        return self._emit()

    def _emit(self) -> np.ndarray:
        size = 2 * self.width + 1
        count = len(self._needs) - 4 * self.width  # held samples whose window is complete
        if count <= 0:
            return np.zeros(0, dtype=np.float32)
        needs, out = self._needs, self._held[:count]
        if np.min(needs) < 1.0:
            floor = _window_minima(needs, size)
            running = np.concatenate([[0.0], np.cumsum(floor)])
            gain = (running[size:] - running[:-size]) / size
            gain[gain > 1.0 - 1e-9] = 1.0  # windows of ones, up to the running sum's rounding
            limited = gain < 1.0
            if limited.any():
                self.limited += int(np.count_nonzero(limited))
                self.reduction_db = min(self.reduction_db, 20.0 * float(np.log10(gain.min())))
                out = (out * gain).astype(np.float32)
        self._needs, self._held = self._needs[count:], self._held[count:]
        return out
