"""Conversion: a trained generator turns a recording into the target instrument.

Per file: audio at the model's rate -> normalised log-magnitude
(:func:`timbre.spectrogram.log_spectrogram`) -> overlapping tiles of
``(n_bins, tile_frames)`` -> generator -> tiles blended with a normalised
window -> magnitude with the input's phase (or Griffin-Lim) -> one inverse STFT
-> float32 audio of exactly the input's length.

Seams: tiles step by ``tile_frames - overlap`` frames (the last one sits flush
with the end). In each tile the ``context`` frames at either edge, where the
U-Net saw zero padding, get almost no weight; the next ``overlap - 2 * context``
frames cross-fade linearly with the neighbour's (:func:`timbre.spectrogram.blend_window`).

Long files: :meth:`Converter.convert_file` reads, converts and writes in blocks
(:class:`timbre.conversion.streaming.StreamingConversion`) with the same tile positions,
so memory does not grow with the length; with input phase the result equals
:meth:`Converter.convert` of the whole file up to float rounding. With
Griffin-Lim the phase is estimated per segment of ``GL_SEGMENT_FRAMES``
frames with ``GL_CONTEXT_FRAMES`` of context on either side (whole-file
Griffin-Lim needs the whole spectrogram in memory), so the two differ slightly.

Peak level: a conversion may peak above full scale. :meth:`Converter.convert`
returns raw samples; :meth:`Converter.convert_file` writes the raw conversion
to a float32 scratch file and, only if the file would exceed full scale
(peak > 1 at the output rate), scales the whole file down so it peaks at
:data:`PEAK_TARGET`; nothing is ever clipped and the result says so.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from timbre import audio as au
from timbre import spectrogram as sp
from timbre.config import SpectrogramConfig
from timbre.conversion.streaming import StreamingConversion
from timbre.errors import AudioError, ConfigError, ModelError
from timbre.modeldir import NOT_A_MODEL, ModelInfo, read_model_info

PHASES = ("input", "griffinlim")  # how the output phase is made
PRECISIONS = (
    "float32",
    "bfloat16",
)  # generator arithmetic; bfloat16 is ~2x faster on CPUs with AVX512-BF16/AMX
PEAK_TARGET = 0.99  # peak of a file that had to be scaled down (-0.09 dBFS)
PLOT_FRAMES = 2048  # --plot shows at most this many frames (23.8 s at the defaults) from the start
BLOCK_FRAMES = 1 << 18  # input samples read per block by convert_file


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """What :meth:`Converter.convert_file` did."""

    input_path: Path
    output_path: Path
    seconds: float  # duration of input and output, s
    sample_rate: int  # Hz of the output
    peak: float  # peak of the raw conversion at the output rate (1 = full scale)
    gain: float  # factor applied to the whole file; 1.0 unless peak > 1
    plot_path: Path | None  # PNG of input and output spectrograms, if asked for

    @property
    def scaled(self) -> bool:
        """True when the file was scaled down to avoid clipping."""
        return self.gain < 1.0


def _check_generator(generator: keras.Model, config: SpectrogramConfig, name: str) -> None:
    expected = (config.n_bins, config.tile_frames, 1)
    try:
        shapes = [tuple(generator.input_shape)[1:], tuple(generator.output_shape)[1:]]
    except (AttributeError, ValueError, TypeError) as e:
        raise ModelError(
            f"{name}: a model without a fixed input shape (expected (batch, *{expected}))"
        ) from e
    if any(shape != expected for shape in shapes):
        raise ModelError(
            f"{name}: input/output shapes {shapes} (expected (batch, *{expected}) from the "
            f"spectrogram settings); was it trained with other settings?"
        )


def load_generator(
    model_path: str | os.PathLike | ModelInfo,
) -> tuple[keras.Model, SpectrogramConfig]:
    """Load a trained generator and the spectrogram settings it was trained with.

    Args:
        model_path: a model directory (``config.json`` + ``generator.keras``) or
            the ``generator.keras`` file inside one.

    Returns:
        ``(generator, spectrogram_config)``; the generator maps
        (batch, n_bins, tile_frames, 1) float32 in [-1, 1] to the same shape.

    Raises:
        ModelError: the path is not a model, the files are unreadable, or the
            generator's shape disagrees with the settings.
    """
    info = model_path if isinstance(model_path, ModelInfo) else read_model_info(model_path)
    try:
        generator = keras.saving.load_model(info.generator, safe_mode=True, compile=False)
    except (
        Exception
    ) as e:  # Keras raises ValueError, OSError, TypeError, zipfile errors... for foreign files
        raise ModelError(
            f"{info.generator}: not a loadable Keras model ({type(e).__name__}: {e}) "
            f"({NOT_A_MODEL})"
        ) from e
    _check_generator(generator, info.spectrogram, str(info.generator))
    return generator, info.spectrogram


class Converter:
    """Converts audio with a generator, seam-free, at any length.

    Args:
        generator: maps (batch, n_bins, tile_frames, 1) in [-1, 1] to the same shape.
        spectrogram: the settings the generator was trained with.
        phase: ``"input"`` (the input's phase) or ``"griffinlim"`` (fast
            Griffin-Lim started from the input's phase).
        iterations: Griffin-Lim iterations (>= 0).
        batch_size: tiles per generator call.
        precision: ``"float32"`` (exact) or ``"bfloat16"`` (the generator's
            weights kept, its layers computing in bfloat16 except the float32
            output layer: about 2x faster on CPUs with AVX512-BF16 or AMX,
            slower elsewhere; outputs differ by ~1e-4).
        overlap: frames shared by neighbouring tiles; default ``tile_frames // 4``.
        context: edge frames of each tile that are (almost) discarded; default
            ``overlap // 4``. Needs ``2 * context <= overlap``; the cross-fade
            is ``overlap - 2 * context`` frames long.

    Raises:
        ConfigError: an argument out of range.
        ModelError: the generator's shape disagrees with ``spectrogram``.
    """

    def __init__(
        self,
        generator: keras.Model,
        spectrogram: SpectrogramConfig,
        *,
        phase: str = "input",
        iterations: int = 32,
        batch_size: int = 8,
        overlap: int | None = None,
        context: int | None = None,
        precision: str = "float32",
    ) -> None:
        tile_frames = spectrogram.tile_frames
        overlap = tile_frames // 4 if overlap is None else overlap
        context = overlap // 4 if context is None else context
        if phase not in PHASES:
            raise ConfigError(f"phase={phase!r} (expected one of {PHASES})")
        if precision not in PRECISIONS:
            raise ConfigError(f"precision={precision!r} (expected one of {PRECISIONS})")
        for name, value, low in (
            ("iterations", iterations, 0),
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
        _check_generator(generator, spectrogram, "generator")
        self.generator, self.spectrogram, self.phase = generator, spectrogram, phase
        self.iterations, self.batch_size = int(iterations), int(batch_size)
        self.overlap, self.context = int(overlap), int(context)
        self.window = sp.blend_window(tile_frames, overlap - 2 * context, context)
        self.precision = precision
        self._forward = _compiled_forward(
            generator if precision == "float32" else _bfloat16(generator), spectrogram
        )

    def generate(self, tiles: np.ndarray) -> np.ndarray:
        """Run the generator on tiles (n_tiles, n_bins, tile_frames) in batches; output clipped to
        [-1, 1].
        """
        out = np.empty(tiles.shape, dtype=np.float32)
        for i in range(0, len(tiles), self.batch_size):
            batch = np.ascontiguousarray(
                tiles[i : i + self.batch_size, :, :, None], dtype=np.float32
            )
            out[i : i + len(batch)] = np.clip(np.asarray(self._forward(batch))[..., 0], -1.0, 1.0)
        return out

    def tile_borders(self, n_frames: int) -> np.ndarray:
        """Frames where this converter's tile edges lie (for
        :func:`timbre.evaluation.metrics.seam_ratio`).
        """
        return sp.tile_borders(n_frames, self.spectrogram.tile_frames, self.overlap)

    def convert(self, audio: np.ndarray) -> np.ndarray:
        """Convert a whole recording held in memory.

        Args:
            audio: shape (n_samples,) at ``spectrogram.sample_rate``.

        Returns:
            float32 of shape (n_samples,), raw (may peak above 1).

        Raises:
            AudioError: empty or non-finite audio (silent audio only warns).
            ConfigError: ``audio`` is not 1-D.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ConfigError(
                f"audio: shape {audio.shape} (expected a 1-D array; mix channels to mono first)"
            )
        au.check(audio, "audio", stacklevel=3)
        config = self.spectrogram
        spectrogram, phase = sp.log_spectrogram(audio, config)
        tiles = self.generate(sp.tile(spectrogram, config.tile_frames, self.overlap))
        blended = sp.blend(tiles, spectrogram.shape[1], self.overlap, self.window)
        if self.phase == "input":
            return sp.invert_log_spectrogram(blended, phase, config, len(audio))
        return sp.griffin_lim(blended, config, len(audio), n_iter=self.iterations, init_phase=phase)

    def convert_file(
        self,
        input_path: str | os.PathLike,
        output_path: str | os.PathLike,
        sample_rate: int | None = None,
        *,
        subtype: str = "FLOAT",
        plot_path: str | os.PathLike | None = None,
        progress: bool = False,
        block_frames: int = BLOCK_FRAMES,
    ) -> ConversionResult:
        """Convert an audio file in blocks (bounded memory) and write the result atomically.

        Args:
            input_path: any file libsndfile reads, any rate, channels mixed to mono.
            output_path: destination; format from its suffix; folders are created.
            sample_rate: output rate in Hz; ``None`` keeps the input's rate.
            subtype: ``"FLOAT"``, ``"PCM_16"`` or ``"PCM_24"`` (see :func:`timbre.audio.save`).
            plot_path: if given, a PNG of input and output spectrograms (first
                :data:`PLOT_FRAMES` frames).
            progress: show a progress bar in seconds of audio.
            block_frames: input samples read per block.

        Returns:
            A :class:`ConversionResult`; the output has the input's duration
            (``round(frames * sample_rate / input_rate)`` samples).

        Raises:
            AudioError: missing, unreadable or empty input; output folder that
                cannot be created; unknown output format.
        """
        input_path, output_path = Path(input_path), Path(output_path)
        source = au.info(input_path)
        rate = source.sample_rate if sample_rate is None else int(sample_rate)
        if rate <= 0:
            raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer")
        same_rate = rate == source.sample_rate
        length = (
            source.frames if same_rate else max(1, round(source.frames * rate / source.sample_rate))
        )
        au.AudioWriter(output_path, rate, subtype)  # checks the format before the work
        folder = _make_folder(output_path.parent)
        with tempfile.TemporaryDirectory(prefix=f".{output_path.stem}.tmp-", dir=folder) as tmp:
            raw = Path(tmp) / "raw.w64"  # Sony Wave64: no 4 GB limit (6.7 h of float32 at 44.1 kHz)
            raw_peak, frames = self._stream(
                input_path, raw, source, progress, block_frames, plot_path is not None
            )
            gain = 1.0 if raw_peak <= 1.0 else PEAK_TARGET / raw_peak
            peak = _copy_scaled(raw, output_path, rate, length, gain, subtype)
            if peak * gain > 1.0:  # resampling overshoot: scale from the peak at the output rate
                gain = PEAK_TARGET / peak
                _copy_scaled(raw, output_path, rate, length, gain, subtype)
        if plot_path is not None:
            self._plot(frames, Path(plot_path), input_path.name)
        return ConversionResult(
            input_path,
            output_path,
            source.seconds,
            rate,
            peak,
            gain,
            None if plot_path is None else Path(plot_path),
        )

    def _stream(
        self,
        input_path: Path,
        raw: Path,
        source: au.AudioInfo,
        progress: bool,
        block_frames: int,
        keep_frames: bool,
    ) -> tuple[float, tuple[list, list]]:
        """Pass 1: convert block by block into a float32 file at the model's rate; its peak."""
        stream = StreamingConversion(self, keep_frames=PLOT_FRAMES if keep_frames else 0)
        rate, peak = self.spectrogram.sample_rate, 0.0
        with (
            au.AudioWriter(raw, rate, "FLOAT") as writer,
            tqdm(
                total=round(source.seconds, 1),
                unit="s",
                desc=input_path.name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            for block in au.read_blocks(input_path, rate, block_frames):
                out = stream.feed(block)
                writer.write(out)
                peak = max(peak, float(np.max(np.abs(out), initial=0.0)))
                bar.update(round(len(block) / rate, 3))
            out = stream.finish()
            writer.write(out)
            peak = max(peak, float(np.max(np.abs(out), initial=0.0)))
        return peak, stream.kept

    def _plot(self, frames: tuple[list, list], path: Path, name: str) -> None:
        from timbre import plotting

        panels = [
            (label, np.concatenate(parts, axis=1))
            for label, parts in zip(("input", "output"), frames)
        ]
        title = f"{name} ({self.phase} phase)"
        if panels[0][1].shape[1] >= PLOT_FRAMES:
            seconds = PLOT_FRAMES * self.spectrogram.hop_length / self.spectrogram.sample_rate
            title += f", first {seconds:.1f} s"
        plotting.save_figure(plotting.spectrogram_figure(panels, self.spectrogram, title), path)


def _compiled_forward(generator: keras.Model, config: SpectrogramConfig):
    """``generator(x, training=False)`` as one traced TensorFlow graph for any batch size."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, config.n_bins, config.tile_frames, 1), tf.float32)
    return tf.function(lambda x: generator(x, training=False), input_signature=[spec])


def _bfloat16(generator: keras.Model) -> keras.Model:
    """A copy of ``generator`` (same weights) whose layers compute in bfloat16, except the output
    layer.
    """
    last = generator.layers[-1].name

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name != last:
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(generator, clone_function=clone)
    copy.set_weights(generator.get_weights())
    return copy


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioError(f"{folder}: cannot create the output folder ({e.strerror or e})") from e
    return folder


def _copy_scaled(
    raw: Path, output: Path, rate: int, length: int, gain: float, subtype: str
) -> float:
    """Pass 2: resample ``raw`` to ``rate``, fit it to ``length`` samples, scale by ``gain``, write
    atomically.

    Returns the peak before scaling.
    """
    peak, written = 0.0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # level warnings about the scratch file are not the user's
        with au.AudioWriter(output, rate, subtype) as writer:
            for block in au.read_blocks(raw, rate):
                block = block[: length - written]
                peak = max(peak, float(np.max(np.abs(block), initial=0.0)))
                writer.write(block * np.float32(gain))
                written += len(block)
            if written < length:
                writer.write(np.zeros(length - written, dtype=np.float32))
    return peak


def load_converter(model_path: str | os.PathLike, **kwargs) -> Converter:
    """:func:`load_generator` then :class:`Converter` with ``kwargs`` (phase, iterations, ...)."""
    generator, config = load_generator(model_path)
    return Converter(generator, config, **kwargs)
