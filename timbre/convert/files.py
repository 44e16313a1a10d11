"""Converting audio files: two passes in blocks, bounded memory, a limited, atomically written
result (what :meth:`timbre.convert.converter.Converter.convert_file` runs).

Pass 1 measures the input's active level (:class:`timbre.dsp.level.LevelMeter`, the
measure of :func:`timbre.dsp.level.active_level_db`). Pass 2 reads the input again at
the model's rate, brings each block to the training level, feeds it to a
:class:`timbre.convert.streaming.StreamingConversion` (the same tile positions as a
whole-file conversion, so memory does not grow with the length), restores the level
and hands the result to :class:`_Output`: resampled to the output rate, limited, cut
to the input's duration and written.

Long files: with input phase the result equals
:meth:`~timbre.convert.converter.Converter.convert` of the whole file up to float
rounding. With Griffin-Lim the phase is estimated per segment of ``GL_SEGMENT_FRAMES``
frames with ``GL_CONTEXT_FRAMES`` of context on either side (whole-file Griffin-Lim
needs the whole spectrogram in memory), so the two differ slightly.

Peak level: a file is never clipped and never turned down as a whole for one peak: a
look-ahead limiter (:class:`timbre.dsp.level.PeakLimiter`, ceiling -0.09 dBFS, 20 ms
gain ramps) reduces the gain only around the samples that would exceed full scale, and
the :class:`ConversionResult` reports the deepest reduction and for how long it acted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from timbre.convert.streaming import StreamingConversion
from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.dsp.tiling import TilingPlan
from timbre.errors import AudioError, ConfigError
from timbre.io import audio as au

PLOT_FRAMES = 2048  # --plot shows at most this many frames (23.8 s at the defaults) from the start
BLOCK_FRAMES = 1 << 18  # input samples read per block by convert_file


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """What :meth:`timbre.convert.converter.Converter.convert_file` did."""

    input_path: Path
    output_path: Path
    seconds: float  # duration of input and output, s
    sample_rate: int  # Hz of the output
    level_db: float  # the input's active level, dBFS (dsp.level.active_level_db); -inf if silent
    gain_db: float  # gain applied to the input before the network (to the training level)
    output_gain_db: float  # gain applied to the conversion: -gain_db with keep_level, else 0
    peak: float  # peak of the conversion at the output rate before the limiter (1 = full scale)
    limited_db: float  # deepest gain reduction of the limiter, dB (<= 0; 0: untouched)
    limited_seconds: float  # how long the limiter reduced the gain, s
    plot_path: Path | None  # PNG of input and output spectrograms, if asked for

    @property
    def limited(self) -> bool:
        """True when the limiter turned some samples down (nothing is ever clipped)."""
        return self.limited_db < 0.0


def amplitude(gain_db: float) -> float:
    """The amplitude factor of a gain in dB (``10 ** (gain_db / 20)``)."""
    return 10.0 ** (gain_db / 20.0)


def convert_file(
    generate: Callable[[np.ndarray], np.ndarray],
    plan: TilingPlan,
    level_gains: Callable[[float], tuple[float, float]],
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    subtype: str = "FLOAT",
    plot_path: str | os.PathLike | None = None,
    progress: bool = False,
    block_frames: int = BLOCK_FRAMES,
) -> ConversionResult:
    """Convert an audio file in two passes (module docstring).

    Args:
        generate: the generator on tiles, (n_tiles, n_bins, tile_frames) -> the same shape,
            in [-1, 1] (:meth:`timbre.convert.converter.Converter.generate`).
        plan: the tiling, blend and phase of the conversion.
        level_gains: an input's active level (dBFS) -> ``(input gain, output gain)`` in dB
            (:meth:`timbre.convert.converter.Converter.level_gains`).
        input_path, output_path, sample_rate, subtype, plot_path, progress, block_frames:
            as :meth:`timbre.convert.converter.Converter.convert_file`.

    Returns:
        A :class:`ConversionResult`.

    Raises:
        AudioError: missing, unreadable or empty input; output folder that cannot be
            created; unknown output format.
        ConfigError: ``sample_rate`` is not positive.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    source = au.info(input_path)
    rate = source.sample_rate if sample_rate is None else int(sample_rate)
    if rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer")
    length = (
        source.frames
        if rate == source.sample_rate
        else max(1, round(source.frames * rate / source.sample_rate))
    )
    au.AudioWriter(output_path, rate, subtype)  # checks the format before the work
    _make_folder(output_path.parent)
    model_rate = plan.spectrogram.sample_rate
    meter = lv.LevelMeter(model_rate)
    for block in au.read_blocks(input_path, model_rate, block_frames):
        meter.add(block)
    level_db = meter.level_db()
    gains = level_gains(level_db)
    stream = StreamingConversion(
        generate, plan, keep_frames=PLOT_FRAMES if plot_path is not None else 0
    )
    with au.AudioWriter(output_path, rate, subtype) as writer:
        sink = _Output(writer, model_rate, rate, length)
        _stream(input_path, model_rate, stream, sink, gains, source.seconds, progress, block_frames)
    if plot_path is not None:
        _plot(plan, stream.kept, gains, Path(plot_path), input_path.name)
    return ConversionResult(
        input_path,
        output_path,
        source.seconds,
        rate,
        level_db,
        gains[0],
        gains[1],
        sink.peak,
        sink.limiter.reduction_db,
        sink.limiter.limited / rate,
        None if plot_path is None else Path(plot_path),
    )


def _stream(
    input_path: Path,
    rate: int,
    stream: StreamingConversion,
    sink: _Output,
    gains: tuple[float, float],
    seconds: float,
    progress: bool,
    block_frames: int,
) -> None:
    """Pass 2: level-match, convert, restore the level, hand to ``sink``, block by block
    (``input_path`` read at the model's ``rate``, Hz).
    """
    into, out_of = (np.float32(amplitude(gain)) for gain in gains)
    with tqdm(
        total=round(seconds, 1),
        unit="s",
        desc=input_path.name,
        disable=not progress,
        leave=False,
    ) as bar:
        for block in au.read_blocks(input_path, rate, block_frames, warn=False):
            sink.write(stream.feed(block * into) * out_of)
            bar.update(round(len(block) / rate, 3))
        sink.write(stream.finish() * out_of, last=True)


def _plot(
    plan: TilingPlan,
    kept: tuple[np.ndarray, np.ndarray],
    gains: tuple[float, float],
    path: Path,
    name: str,
) -> None:
    """Input and output spectrograms over the same frames, each at its file's level."""
    from timbre import plotting

    config = plan.spectrogram
    panels = [
        (label, sp.normalise(sp.denormalise(spec, config) * amplitude(gain), config))
        for label, spec, gain in zip(("input", "output"), kept, (-gains[0], gains[1]))
    ]
    title = f"{name} ({plan.phase} phase)"
    if panels[0][1].shape[1] >= PLOT_FRAMES:
        seconds = PLOT_FRAMES * config.hop_length / config.sample_rate
        title += f", first {seconds:.1f} s"
    plotting.save_figure(plotting.spectrogram_figure(panels, config, title), path)


class _Output:
    """Pass 2's end: model-rate conversion -> output rate -> peak limiter -> exactly ``length``
    samples into ``writer``; remembers the peak before the limiter.
    """

    def __init__(self, writer: au.AudioWriter, from_rate: int, to_rate: int, length: int) -> None:
        self.writer, self.length, self.written, self.peak = writer, length, 0, 0.0
        self.resampler = au.Resampler(from_rate, to_rate)
        self.limiter = lv.PeakLimiter(to_rate)

    def write(self, block: np.ndarray, last: bool = False) -> None:
        block = self.resampler.feed(block, last=last)
        self.peak = max(self.peak, float(np.max(np.abs(block), initial=0.0)))
        self._put(self.limiter.feed(block))
        if last:
            self._put(self.limiter.finish())
            if self.written < self.length:
                self.writer.write(np.zeros(self.length - self.written, dtype=np.float32))

    def _put(self, block: np.ndarray) -> None:
        block = block[: self.length - self.written]
        self.writer.write(block)
        self.written += len(block)


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioError(f"{folder}: cannot create the output folder ({e.strerror or e})") from e
    return folder
