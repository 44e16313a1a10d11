"""Converting audio files: three passes in blocks, bounded memory, a limited, atomically
written result at the input's level as measured (what
:meth:`timbre.convert.converter.Converter.convert_file` runs).

Pass 1 measures the input's active level (:class:`timbre.dsp.level.LevelMeter`, the
measure of :func:`timbre.dsp.level.active_level_db`, on the file's samples at its own rate).
Pass 2 reads the input again, feeds it to a
:class:`timbre.convert.streaming.ResampledConversion` (resampled to the model's rate,
brought to the training level, converted with the same tile positions as a whole-file
conversion, resampled to the output rate: memory does not grow with the length) and parks
the conversion in a :class:`timbre.io.audio.Scratch` beside the output while measuring its
level. Pass 3 reads it back with the output gain that gives it the input's level (the
network changes the level: the shipped model turns a keyboard at its training level into
strings 2.6-8.8 dB quieter, so undoing the input gain alone wrote files that much quieter
than they came), limits, writes, and measures what it writes: the level a
:class:`ConversionResult` reports is the written file's. The scratch file has no name, so
a killed run leaves nothing; it takes as much disk as the output at float32.

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

from timbre.convert.streaming import FittedSink, ResampledConversion, amplitude
from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.dsp.tiling import TilingPlan
from timbre.errors import AudioError
from timbre.io import audio as au
from timbre.settings.rules import sample_rate as check_rate

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
    output_gain_db: float  # gain applied to the conversion: to the input's level with
    # keep_level (measured on the conversion, so not simply -gain_db), else 0
    peak: float  # peak of the conversion at the output rate before the limiter (1 = full scale)
    limited_db: float  # deepest gain reduction of the limiter, dB (<= 0; 0: untouched)
    limited_seconds: float  # how long the limiter reduced the gain, s
    plot_path: Path | None  # PNG of input and output spectrograms, if asked for
    output_level_db: float = float("-inf")  # active level of the samples written, as measured

    @property
    def limited(self) -> bool:
        """True when the limiter turned some samples down (nothing is ever clipped)."""
        return self.limited_db < 0.0


def convert_file(
    generate: Callable[[np.ndarray], np.ndarray],
    plan: TilingPlan,
    input_gain: Callable[[float], float],
    output_gain: Callable[[float, float], float],
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    subtype: str = "FLOAT",
    plot_path: str | os.PathLike | None = None,
    progress: bool = False,
    block_frames: int = BLOCK_FRAMES,
) -> ConversionResult:
    """Convert an audio file in three passes (module docstring).

    Args:
        generate: the generator on tiles, (n_tiles, n_bins, tile_frames) -> the same shape,
            in [-1, 1] (:meth:`timbre.convert.converter.Converter.generate`).
        plan: the tiling, blend and phase of the conversion.
        input_gain: the input's active level (dBFS) -> the gain (dB) that brings it to the
            training level (:meth:`timbre.convert.converter.Converter.input_gain_db`).
        output_gain: (the input's level, the conversion's level) -> the gain (dB) of the
            conversion (:meth:`timbre.convert.converter.Converter.output_gain_db`).
        input_path, output_path, sample_rate, subtype, plot_path, progress, block_frames:
            as :meth:`timbre.convert.converter.Converter.convert_file`.

    Returns:
        A :class:`ConversionResult`.

    Raises:
        AudioError: missing, unreadable or empty input; output folder that cannot be
            created; unknown output format; a failed write (a full disk).
        ConfigError: ``sample_rate`` outside 8000 to 192000 Hz or not a whole number.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    source = au.info(input_path)
    rate = source.sample_rate if sample_rate is None else check_rate(sample_rate, "convert_file")
    length = (
        source.frames
        if rate == source.sample_rate
        else max(1, round(source.frames * rate / source.sample_rate))
    )
    au.AudioWriter(output_path, rate, subtype)  # checks the format before the work
    _make_folder(output_path.parent)
    meter = lv.LevelMeter(source.sample_rate)
    for block in au.read_blocks(input_path, None, block_frames):
        meter.add(block)
    level_db = meter.level_db()
    gain_db = input_gain(level_db)
    stream = ResampledConversion(
        generate,
        plan,
        source.sample_rate,
        rate,
        amplitude(gain_db),
        keep_frames=PLOT_FRAMES if plot_path is not None else 0,
    )
    with au.Scratch(output_path) as scratch:
        converted = FittedSink(lambda _, block: scratch.write(block), length, rate)
        _stream(input_path, source, stream, converted, progress, block_frames)
        output_gain_db = output_gain(level_db, converted.meter.level_db())
        with au.AudioWriter(output_path, rate, subtype) as writer:
            sink = _Output(writer, rate, amplitude(output_gain_db))
            for block in scratch.blocks(block_frames):
                sink.write(block)
            sink.finish()
    if plot_path is not None:
        nyquist = min(source.sample_rate, rate) / 2  # nothing above it in either file
        gains = (gain_db, output_gain_db)
        _plot(plan, stream.kept, gains, Path(plot_path), input_path.name, nyquist)
    return ConversionResult(
        input_path,
        output_path,
        source.seconds,
        rate,
        level_db,
        gain_db,
        output_gain_db,
        sink.peak,
        sink.limiter.reduction_db,
        sink.limiter.limited / rate,
        None if plot_path is None else Path(plot_path),
        sink.meter.level_db(),
    )


def _stream(
    input_path: Path,
    source: au.AudioInfo,
    stream: ResampledConversion,
    sink: FittedSink,
    progress: bool,
    block_frames: int,
) -> None:
    """Pass 2: convert at the training level, block by block, into ``sink``."""
    with tqdm(
        total=round(source.seconds, 1),
        unit="s",
        desc=input_path.name,
        disable=not progress,
        leave=False,
    ) as bar:
        for block in au.read_blocks(input_path, None, block_frames, warn=False):
            sink.write(stream.feed(block))
            bar.update(round(len(block) / source.sample_rate, 3))
        sink.write(stream.finish())
        sink.finish()


def _plot(
    plan: TilingPlan,
    kept: tuple[np.ndarray, np.ndarray],
    gains: tuple[float, float],
    path: Path,
    name: str,
    max_hz: float,
) -> None:
    """Input and output spectrograms over the same frames, each at its file's level, up to
    ``max_hz`` (the files' Nyquist frequency)."""
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
    plotting.save_figure(plotting.spectrogram_figure(panels, config, title, max_hz), path)


class _Output:
    """Pass 3: the parked conversion -> output gain -> peak limiter -> ``writer``; remembers
    the peak before the limiter and measures the active level of what it writes.
    """

    def __init__(self, writer: au.AudioWriter, rate: int, gain: float) -> None:
        self.writer, self.gain, self.peak = writer, np.float32(gain), 0.0
        self.limiter = lv.PeakLimiter(rate)
        self.meter = lv.LevelMeter(rate)

    def write(self, block: np.ndarray) -> None:
        block = block * self.gain
        self.peak = max(self.peak, float(np.max(np.abs(block), initial=0.0)))
        self._put(self.limiter.feed(block))

    def finish(self) -> None:
        self._put(self.limiter.finish())

    def _put(self, block: np.ndarray) -> None:
        self.meter.add(block)
        self.writer.write(block)


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioError(f"{folder}: cannot create the output folder ({e.strerror or e})") from e
    return folder
