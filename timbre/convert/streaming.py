"""Streaming conversion: the block-by-block twin of
:meth:`timbre.convert.converter.Converter.convert_unmatched`.

Pure NumPy (no TensorFlow, and no librosa or SciPy, whose imports cost a
command-line conversion more than converting a short file: the STFT and its
inverse are the block processors of :mod:`timbre.dsp.stft`). A conversion needs two things, and
:class:`StreamingConversion` is handed exactly those: a ``generate`` callable
(tiles in, tiles out: the network, or anything else) and a :class:`TilingPlan`
(where tiles go, how they blend, how audio is rebuilt). The converter builds
both and imports this module; nothing here knows the converter. Memory is
bounded by the block size, one tile and one batch, whatever the input length.

:class:`ResampledConversion` wraps it with the two rate conversions (soxr's streaming
resampler) and the input gain, so the Python API (:func:`convert_array`, what
:meth:`timbre.convert.converter.Converter.convert` runs) and the command line
(:mod:`timbre.convert.files`) feed the same object blocks at the recording's rate; both
measure what comes out (:class:`FittedSink`) before giving it the input's level.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from timbre.dsp import edges
from timbre.dsp import level as lv
from timbre.dsp import stft as sp
from timbre.dsp.phase import SegmentedGriffinLim
from timbre.dsp.tiling import TilingPlan
from timbre.io.audio import Resampler

Generate = Callable[[np.ndarray], np.ndarray]  # (n_tiles, n_bins, tile_frames) -> same shape


def amplitude(gain_db: float) -> float:
    """The amplitude factor of a gain in dB (``10 ** (gain_db / 20)``)."""
    return 10.0 ** (gain_db / 20.0)


class FittedSink:
    """Blocks handed to ``put(start, block)`` cut or zero-padded to exactly ``length`` samples,
    their active level measured on the way (:attr:`meter`).

    Resampling there and back may leave a conversion a sample or two off the input's duration;
    this makes it exact, and measures exactly what is kept.
    """

    def __init__(
        self, put: Callable[[int, np.ndarray], None], length: int, sample_rate: int
    ) -> None:
        self.put, self.length, self.done = put, length, 0
        self.meter = lv.LevelMeter(sample_rate)

    def write(self, block: np.ndarray) -> None:
        block = block[: self.length - self.done]
        if len(block):
            self.meter.add(block)
            self.put(self.done, block)
            self.done += len(block)

    def finish(self) -> None:
        if self.done < self.length:
            self.write(np.zeros(self.length - self.done, dtype=np.float32))


class StreamingConversion:
    """The streaming twin of ``Converter.convert_unmatched``: feed model-rate blocks, get output
    blocks (level matching is the converter's: it scales the blocks going in and coming out).

    The edge padding (:class:`timbre.dsp.edges.EdgeExtender`), the STFT
    (:class:`timbre.dsp.stft.Analyser`), the tile positions
    (:func:`timbre.dsp.tiling.tile_starts`, learnt as the frames arrive: a
    regular tile is cut once a later frame proves it is not the last), the
    blend and the inverse STFT (:class:`timbre.dsp.stft.OverlapAdder`) are those of
    the whole-file path, so the output equals it up to float
    rounding (with Griffin-Lim, see :class:`timbre.dsp.phase.SegmentedGriffinLim`). State is
    kept from ``base``, the first frame not yet final (some tile still to be
    predicted covers it), to ``n_frames``, the frames analysed so far, so
    memory is bounded by the block size, one tile and one batch.

    Args:
        generate: tiles (n_tiles, n_bins, tile_frames) in [-1, 1] -> the same shape.
        plan: tile positions, blend, phase.
        keep_frames: keep the first this many frames of the input and output
            spectrograms (for a plot: :attr:`kept`).
    """

    def __init__(self, generate: Generate, plan: TilingPlan, keep_frames: int = 0) -> None:
        config = plan.spectrogram
        self.generate, self.plan, self.config = generate, plan, config
        self.edge = plan.edge_samples
        self.edges = edges.EdgeExtender(self.edge, config.sample_rate)
        self.n_input = self.padded_out = 0  # input samples fed; padded-signal samples put out
        self.analyser = sp.Analyser(config)  # STFT of the padded signal
        self.n_samples = self.n_frames = self.base = self.next_start = 0  # of the padded signal
        self.pending: list[int] = []  # tile starts waiting for a full batch
        self.spec = np.zeros((config.n_bins, 0), dtype=np.float32)  # input, frames base..n_frames
        self.phase = np.zeros((config.n_bins, 0), dtype=np.float32)  # input phase, same frames
        self.summed = np.zeros((config.n_bins, 0))  # window-weighted generator output, same frames
        self.weight = np.zeros(0)  # summed window, same frames
        self.phaser = (
            SegmentedGriffinLim(config, plan.iterations) if plan.phase == "griffinlim" else None
        )
        self.istft = sp.OverlapAdder(config)
        self.keep_frames = keep_frames
        self._kept: tuple[list, list] = ([], [])  # input and output frames from the input's start

    @property
    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """Input and output spectrograms (n_bins, k) of the first ``k <= keep_frames`` frames
        of the input, both over the same span (as many frames as the input has released so far).
        """
        parts = [np.concatenate(p, axis=1) if p else self.spec[:, :0] for p in self._kept]
        width = min(
            parts[0].shape[1], parts[1].shape[1], sp.n_frames_for(self.n_input, self.config)
        )
        return parts[0][:, :width], parts[1][:, :width]

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take the next samples (1-D, model rate); return the output samples that became final."""
        block = np.asarray(block, dtype=np.float32)
        self.n_input += len(block)
        padded = self.edges.feed(block)
        return self._trim(self._feed_padded(padded)) if len(padded) else padded

    def finish(self) -> np.ndarray:
        """End of input: return the remaining output (total length == samples fed)."""
        if self.n_input == 0:
            return np.zeros(0, dtype=np.float32)
        out = self._feed_padded(self.edges.finish())
        self._add_frames(self.analyser.finish())
        last = self.n_frames - self.config.tile_frames
        if last <= 0:
            self.pending.append(0)
        else:
            while self.next_start < last:
                self.pending.append(self.next_start)
                self.next_start += self.plan.step
            self.pending.append(last)
        self._predict(final=True)
        return self._trim(np.concatenate([out, self._release(self.n_frames, final=True)]))

    def _trim(self, out: np.ndarray) -> np.ndarray:
        """Output samples of the padded signal -> the input's: drop the predicted start and end."""
        start, self.padded_out = self.padded_out, self.padded_out + len(out)
        return out[max(0, self.edge - start) : max(0, self.edge + self.n_input - start)]

    def _feed_padded(self, samples: np.ndarray) -> np.ndarray:
        """Samples of the padded signal in; output samples of the padded signal out."""
        self.n_samples += len(samples)
        self._add_frames(self.analyser.feed(samples))
        tile_frames = self.config.tile_frames
        while self.next_start + tile_frames < self.n_frames:  # a later frame: not the flush tile
            self.pending.append(self.next_start)
            self.next_start += self.plan.step
        self._predict(final=False)
        first_open = self.pending[0] if self.pending else self.next_start
        return self._release(min(first_open, self.n_frames - tile_frames), final=False)

    def _add_frames(self, spectrum: np.ndarray) -> None:
        """Append new STFT frames (n_fft // 2 + 1, count): normalised magnitude and phase of the
        lowest n_bins bins, and empty blend sums.
        """
        config, count = self.config, spectrum.shape[1]
        spectrum = spectrum[: config.n_bins]
        self.spec = np.concatenate(
            [self.spec, sp.normalise(np.abs(spectrum) * self.plan.magnitude_scale, config)], 1
        )
        self.phase = np.concatenate([self.phase, np.angle(spectrum).astype(np.float32)], axis=1)
        self.summed = np.concatenate([self.summed, np.zeros((config.n_bins, count))], axis=1)
        self.weight = np.concatenate([self.weight, np.zeros(count)])
        self.n_frames += count

    def _predict(self, final: bool) -> None:
        """Predict full batches of pending tiles (all of them if ``final``) and add them to the
        blend.
        """
        batch_size, tile_frames = self.plan.batch_size, self.config.tile_frames
        window = self.plan.window
        while len(self.pending) >= batch_size or (final and self.pending):
            starts, self.pending = self.pending[:batch_size], self.pending[batch_size:]
            tiles = np.full(
                (len(starts), self.config.n_bins, tile_frames), sp.SILENCE, dtype=np.float32
            )
            for tile, start in zip(tiles, starts):  # a spectrogram shorter than a tile stays padded
                part = self.spec[:, start - self.base : start - self.base + tile_frames]
                tile[:, : part.shape[1]] = part
            for start, tile in zip(starts, self.generate(tiles)):
                lo = start - self.base
                width = min(tile_frames, self.spec.shape[1] - lo)
                self.summed[:, lo : lo + width] += tile[:, :width] * window[:width]
                self.weight[lo : lo + width] += window[:width]

    def _release(self, upto: int, final: bool) -> np.ndarray:
        """Frames base..upto are final: blend them, make their phase, inverse-STFT them."""
        count = upto - self.base
        if count <= 0 and not final:
            return np.zeros(0, dtype=np.float32)
        count = max(count, 0)
        spec = (self.summed[:, :count] / np.maximum(self.weight[:count], 1e-12)).astype(np.float32)
        phase = self.phase[:, :count]
        self._keep(spec, count)
        self.spec, self.phase = self.spec[:, count:], self.phase[:, count:]
        self.summed, self.weight, self.base = self.summed[:, count:], self.weight[count:], upto
        if self.phaser is not None:
            spec, phase = self.phaser.feed(spec, phase, self.n_samples if final else None)
        magnitude = sp.denormalise(spec, self.config) / self.plan.magnitude_scale
        out = self.istft.feed(magnitude * np.exp(1j * phase.astype(np.float32)))
        return np.concatenate([out, self.istft.finish(self.n_samples)]) if final else out

    def _keep(self, spec: np.ndarray, count: int) -> None:
        """Keep the released frames (``count`` from ``base``) that fall among the input's first
        ``keep_frames`` frames: input and output alike, so both cover the same span.
        """
        have = sum(part.shape[1] for part in self._kept[0])
        lo = max(self.base, self.plan.edge_frames + have)
        hi = min(self.base + count, self.plan.edge_frames + self.keep_frames)
        if hi > lo:
            self._kept[0].append(self.spec[:, lo - self.base : hi - self.base].copy())
            self._kept[1].append(spec[:, lo - self.base : hi - self.base].copy())


class ResampledConversion:
    """Blocks at any rate in, the conversion at ``output_rate`` out: the input resampled to
    the model's rate (streaming soxr), scaled by ``gain`` (to the training level), converted
    by a :class:`StreamingConversion` and resampled to ``output_rate``.

    What comes out is the conversion at the training level: the output gain is the caller's,
    decided once the conversion's level is known. Resampling there and back may leave the
    total a sample or two off ``round(n * output_rate / source_rate)``; the caller cuts or pads.

    Args:
        generate, plan, keep_frames: as :class:`StreamingConversion`.
        source_rate: Hz of the blocks fed.
        output_rate: Hz of the blocks returned.
        gain: amplitude factor applied at the model's rate, before the network.
    """

    def __init__(
        self,
        generate: Generate,
        plan: TilingPlan,
        source_rate: int,
        output_rate: int,
        gain: float = 1.0,
        keep_frames: int = 0,
    ) -> None:
        model_rate = plan.spectrogram.sample_rate
        self.into = Resampler(source_rate, model_rate)
        self.conversion = StreamingConversion(generate, plan, keep_frames)
        self.out_of = Resampler(model_rate, output_rate)
        self.gain = np.float32(gain)

    @property
    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`StreamingConversion.kept` (the input's spectrogram at the training level)."""
        return self.conversion.kept

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take the next samples (1-D, ``source_rate``); return output samples that are final."""
        converted = self.conversion.feed(self.into.feed(block) * self.gain)
        return self.out_of.feed(converted)

    def finish(self) -> np.ndarray:
        """End of input: the remaining output samples."""
        tail = self.conversion.feed(self.into.feed(np.zeros(0, np.float32), last=True) * self.gain)
        return self.out_of.feed(np.concatenate([tail, self.conversion.finish()]), last=True)


def convert_array(
    generate: Generate,
    plan: TilingPlan,
    audio: np.ndarray,
    sample_rate: int,
    input_gain: Callable[[float], float],
    output_gain: Callable[[float, float], float],
    block_frames: int,
) -> np.ndarray:
    """Convert an array in blocks of ``block_frames``: measure its level, convert it at the
    training level into the result, then give the result its gain. Memory: the result and a
    working set bounded by the block size.

    Args:
        generate, plan: as :class:`StreamingConversion`.
        audio: float32 mono samples (checked) at ``sample_rate`` Hz.
        input_gain: the input's active level (dBFS) -> the gain (dB) into the network.
        output_gain: (the input's level, the conversion's level) -> the result's gain (dB).
        block_frames: samples fed per block.

    Returns:
        float32 of ``audio``'s shape at ``sample_rate``.
    """
    meter = lv.LevelMeter(sample_rate)
    for start in range(0, len(audio), block_frames):
        meter.add(audio[start : start + block_frames])
    level_db = meter.level_db()
    out = np.empty(len(audio), dtype=np.float32)
    sink = FittedSink(lambda start, block: _put(out, start, block), len(audio), sample_rate)
    stream = ResampledConversion(
        generate, plan, sample_rate, sample_rate, amplitude(input_gain(level_db))
    )
    for start in range(0, len(audio), block_frames):
        sink.write(stream.feed(audio[start : start + block_frames]))
    sink.write(stream.finish())
    sink.finish()
    out *= np.float32(amplitude(output_gain(level_db, sink.meter.level_db())))
    return out


def _put(out: np.ndarray, start: int, block: np.ndarray) -> None:
    out[start : start + len(block)] = block
