"""Conversion: a trained generator turns a recording into the target instrument.

Per file: audio at the model's rate -> level matched to the training level ->
continued at both ends (linear prediction) -> normalised log-magnitude
(:func:`timbre.dsp.stft.log_spectrogram`) -> overlapping tiles of
``(n_bins, tile_frames)`` -> generator -> tiles blended with a normalised
window -> magnitude with the input's phase (or Griffin-Lim) -> one inverse STFT
-> the input's span, at the input's level -> float32 audio of exactly the
input's length. :meth:`Converter.convert` takes audio at any rate from 8 to 192 kHz
(``sample_rate``, required): it is resampled to the model's rate and back, in blocks.

Runtime: this module imports no TensorFlow. The generator is handed in (a
:class:`timbre.formats.generator.Generator`): :func:`load_converter` runs
the model directory's ``generator.onnx`` with ONNX Runtime when it can and
``generator.keras`` with Keras otherwise (:mod:`timbre.convert.backends`);
tiling, level, blending, phase and streaming are the same code either way.

Seams: tiles step by ``tile_frames - overlap`` frames (the last one sits flush
with the end). In each tile the ``context`` frames at either edge, where the
U-Net saw zero padding, get almost no weight; the next ``overlap - 2 * context``
frames cross-fade linearly with the neighbour's (:func:`timbre.dsp.tiling.blend_window`).

Edges: the recording's own first and last samples are converted like its
middle. The signal is continued by ``context + 1`` hops of linear prediction
at each end (:func:`timbre.dsp.edges.pad_edges`,
:attr:`TilingPlan.edge_samples`) and only the input's span of the output is
kept, so no kept sample lies where the inverse STFT's window envelope vanishes
(that division blew the last 1-5 samples of every input with ``n % hop`` in
496-511 up to 2-134x full scale), an abrupt start or end is analysed as the
music going on rather than a step into silence, and the file's first and last
frames are not a tile's context.

Level: the model learnt a mapping that depends on absolute level, at the
level of its training audio. The input's active level
(:func:`timbre.dsp.level.active_level_db`: a gated median of 400 ms block RMS
levels, which one transient cannot move) is brought to ``origin_level_db``
(recorded in the model directory by training: the median over the training
pieces, measured on their audio by the same function when the features were
computed; a model directory without it falls back to
:data:`DEFAULT_ORIGIN_LEVEL_DB`, -24.75 dBFS, what the demo's training audio
measures), converted, and the result is returned at the input's level
(``keep_level=True``) or as the network made it at the training level
(``keep_level=False``). "At the input's level" is measured, not assumed: the network
changes the level (a keyboard -> strings model makes its strings quieter than the keyboard
it got), so the output gain is the input's level minus the conversion's, both measured by
the same function, and the result measures what the input measured. Silent input is
converted as it is. The level-matched input may exceed full scale (a quiet recording with
a high crest factor); the STFT does not mind.

One path for every length: :meth:`Converter.convert` and :meth:`Converter.convert_file`
both stream the audio through a :class:`timbre.convert.streaming.ResampledConversion` in
blocks, so the working set does not grow with the length: an array costs its own size plus
the result's, a file (:mod:`timbre.convert.files`) a bounded amount. :meth:`Converter.convert`
returns float samples that may exceed full scale; a converted file is limited, never
clipped. :meth:`Converter.convert_unmatched` is the whole-array reference the streaming
path is tested against.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from timbre.convert import files, samples, streaming
from timbre.convert.backends import load_generator
from timbre.convert.files import BLOCK_FRAMES, PLOT_FRAMES, ConversionResult
from timbre.dsp import edges, tiling
from timbre.dsp import stft as sp
from timbre.dsp.phase import griffin_lim
from timbre.dsp.tiling import PHASES, TilingPlan
from timbre.errors import ConfigError
from timbre.formats import shipped
from timbre.formats.generator import Generator, check_tile_shape
from timbre.formats.model_dir import read_model_info
from timbre.io import audio as au
from timbre.settings import ConvertConfig, SpectrogramConfig
from timbre.settings.rules import SAMPLE_RATES
from timbre.settings.rules import sample_rate as check_rate

__all__ = [
    "BLOCK_FRAMES",
    "PHASES",
    "PLOT_FRAMES",
    "ConversionResult",
    "Converter",
    "TilingPlan",
    "load_converter",
    "load_generator",
]

DEFAULT_ORIGIN_LEVEL_DB = -24.75  # active level (dBFS) assumed for a model dir that records none:
# what the demo's training audio measures (keyboard_acoustic, train split of `timbre demo`, cpu
# preset, seed 0: median -24.75 dBFS over 148 pieces, 5-95 % of pieces -30.4 to -19.1)


def _as_generator(generator, config: SpectrogramConfig) -> Generator:
    """A :class:`Generator` as it is (shape checked); a ``keras.Model`` wrapped in float32."""
    keras = sys.modules.get("keras")  # a Keras model can exist only once Keras is imported
    if keras is not None and isinstance(generator, keras.Model):
        from timbre.tf.keras_generator import KerasGenerator

        return KerasGenerator(generator, "float32", config)
    shape = getattr(generator, "tile_shape", None)
    if shape is None or not callable(generator):
        raise ConfigError(
            f"generator: a {type(generator).__name__} (expected a Generator from "
            "load_generator, or a keras.Model)"
        )
    check_tile_shape([(*shape, 1)] * 2, config, "generator")
    return generator


class Converter:
    """Converts audio with a generator, seam-free, at any length and level.

    Args:
        generator: a :class:`timbre.formats.generator.Generator` (what
            :func:`load_generator` returns: ONNX Runtime or Keras), or a ``keras.Model``
            (run in float32), mapping (batch, n_bins, tile_frames[, 1]) in [-1, 1] to the
            same shape.
        spectrogram: the settings the generator was trained with.
        phase: ``"input"`` (the input's phase) or ``"griffinlim"`` (fast
            Griffin-Lim started from the input's phase).
        iterations: Griffin-Lim iterations (>= 0).
        batch_size: tiles per generator call.
        overlap: frames shared by neighbouring tiles; default ``tile_frames // 4``.
        context: edge frames of each tile that are (almost) discarded; default
            ``overlap // 4``. Needs ``2 * context <= overlap``; the cross-fade
            is ``overlap - 2 * context`` frames long.
        origin_level_db: active level (dBFS, :func:`timbre.dsp.level.active_level_db`) of the
            audio the generator was trained on; inputs are brought to it before the
            network. ``None``: :data:`DEFAULT_ORIGIN_LEVEL_DB`, what the demo's training
            audio measures (:func:`load_converter` passes the model directory's).
        keep_level: return conversions at the input's level (``True``) or at
            ``origin_level_db`` (``False``).

    Raises:
        ConfigError: an argument out of range, or a generator of another kind.
        ModelError: the generator's shape disagrees with ``spectrogram``.
    """

    def __init__(
        self,
        generator: Generator,
        spectrogram: SpectrogramConfig,
        *,
        phase: str = ConvertConfig.phase,
        iterations: int = ConvertConfig.iterations,
        batch_size: int = ConvertConfig.batch_size,
        overlap: int | None = ConvertConfig.overlap,
        context: int | None = ConvertConfig.context,
        origin_level_db: float | None = None,
        keep_level: bool = ConvertConfig.keep_level,
    ) -> None:
        self.plan = TilingPlan.create(
            spectrogram,
            overlap=overlap,
            context=context,
            batch_size=batch_size,
            phase=phase,
            iterations=iterations,
        )
        level = DEFAULT_ORIGIN_LEVEL_DB if origin_level_db is None else origin_level_db
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not -200 < level < 20:
            raise ConfigError(
                f"origin_level_db={origin_level_db!r} (expected a level in dBFS, -200 to 20)"
            )
        self.generator = _as_generator(generator, spectrogram)
        self.origin_level_db, self.keep_level = float(level), bool(keep_level)
        self.target: str | None = None  # the instrument it converts to, when known

    @property
    def spectrogram(self) -> SpectrogramConfig:
        return self.plan.spectrogram

    @property
    def backend(self) -> str:
        """The generator's runtime: ``"onnx"`` (ONNX Runtime) or ``"keras"``."""
        return self.generator.backend

    @property
    def precision(self) -> str:
        """The generator's arithmetic: ``"float32"`` or ``"bfloat16"``."""
        return self.generator.precision

    @property
    def phase(self) -> str:
        return self.plan.phase

    @property
    def iterations(self) -> int:
        return self.plan.iterations

    @property
    def batch_size(self) -> int:
        return self.plan.batch_size

    @property
    def overlap(self) -> int:
        return self.plan.overlap

    @property
    def context(self) -> int:
        return self.plan.context

    def generate(self, tiles: np.ndarray) -> np.ndarray:
        """Run the generator on tiles (n_tiles, n_bins, tile_frames) in batches; output clipped to
        [-1, 1].
        """
        out = np.empty(tiles.shape, dtype=np.float32)
        for i in range(0, len(tiles), self.batch_size):
            batch = np.ascontiguousarray(tiles[i : i + self.batch_size], dtype=np.float32)
            out[i : i + len(batch)] = np.clip(self.generator(batch), -1.0, 1.0)
        return out

    def tile_borders(self, n_frames: int) -> np.ndarray:
        """Frames of an input's spectrogram (``n_frames`` frames) where this converter's tile
        edges lie (for :func:`timbre.evaluate.metrics.seam_ratio`).
        """
        return self.plan.tile_borders(n_frames)

    def input_gain_db(self, level_db: float) -> float:
        """The gain (dB) that brings an input of active level ``level_db`` to
        ``origin_level_db``; 0 for silent input (``-inf``).
        """
        return self.origin_level_db - level_db if math.isfinite(level_db) else 0.0

    def output_gain_db(self, level_db: float, converted_db: float) -> float:
        """The gain (dB) of a conversion whose active level is ``converted_db``, made of an input
        of level ``level_db``: to the input's level with ``keep_level`` (``level_db -
        converted_db``), else 0; 0 when either is silent (``-inf``).
        """
        if not (self.keep_level and math.isfinite(level_db) and math.isfinite(converted_db)):
            return 0.0
        return level_db - converted_db

    def convert(self, audio, sample_rate: int | float | None = None) -> np.ndarray:
        """Convert a recording held in memory, level-matched (see the module docstring).

        Streams it in blocks of :data:`BLOCK_FRAMES` through the command line's machinery, so
        memory is the input, the result and a bounded working set, whatever the length.

        Args:
            audio: samples: a NumPy array or a list of numbers, mono ``(n_samples,)`` or with
                channels ``(n_samples, channels)`` / ``(channels, n_samples)`` (mixed to mono;
                the axis of length <= 8 is the channels). Floats are full scale ±1; integer
                arrays are PCM, scaled by their dtype's range (int16 / 32768, uint8 centred on
                128): :mod:`timbre.convert.samples`.
            sample_rate: the samples' rate in Hz, required: a whole number from 8000 to
                192000 (16000 or 16000.0). The audio is resampled to the model's rate,
                converted and resampled back.

        Returns:
            float32 of shape (n_samples,) at ``sample_rate``, at the input's active level
            (or as converted at ``origin_level_db`` without ``keep_level``); not limited
            (may exceed 1).

        Raises:
            ConfigError: no ``sample_rate`` or one out of range, checked before anything
                else; ``audio`` not numeric (naming the type given) or of a shape whose
                channel axis is unclear.
            AudioError: empty or non-finite audio (silent or clipped audio only warns).
        """
        if sample_rate is None:
            low, high = SAMPLE_RATES
            raise ConfigError(
                "convert: sample_rate missing: pass the rate of the samples in Hz, e.g. "
                f"convert(samples, sample_rate=44100) ({low} to {high}; the model's is "
                f"{self.spectrogram.sample_rate})"
            )
        rate = check_rate(sample_rate, "convert")
        mono = samples.as_mono(audio)
        au.check(mono, "audio")
        return streaming.convert_array(
            self.generate,
            self.plan,
            mono,
            rate,
            self.input_gain_db,
            self.output_gain_db,
            BLOCK_FRAMES,
        )

    def convert_unmatched(self, audio: np.ndarray) -> np.ndarray:
        """Convert at the audio's own level, without level matching: what the network makes of
        exactly these samples (the whole-file twin of
        :class:`timbre.convert.streaming.StreamingConversion`). ``audio`` at the model's
        rate; result and errors as :meth:`convert`.
        """
        return self._convert_padded(self._checked(audio))

    def convert_span(self, audio: np.ndarray) -> np.ndarray:
        """Convert exactly these samples as one span: no level matching and no edge prediction.

        The STFT of ``audio`` alone (centred frames, zeros beyond its ends), tiles at
        :func:`timbre.dsp.tiling.tile_starts`, the generator, the plan's blend, the input's
        phase (whatever ``phase`` says), one inverse STFT cut to ``len(audio)``. This is
        what a converter written by :func:`timbre.tf.export.export_converter`
        computes on a chunk; :meth:`convert` runs it on the signal continued at both ends.

        Args:
            audio: shape (n_samples,) at the model's rate.

        Returns:
            float32 of shape (n_samples,).
        """
        return self._span(self._checked(audio), phase="input")

    def _checked(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ConfigError(
                f"audio: shape {audio.shape} (expected a 1-D array; mix channels to mono first)"
            )
        au.check(audio, "audio", stacklevel=4)
        return audio

    def _convert_padded(self, audio: np.ndarray) -> np.ndarray:
        """Continue the signal at both ends, convert the padded signal, keep the input's span."""
        edge = self.plan.edge_samples
        padded = edges.pad_edges(audio, edge, self.spectrogram.sample_rate)
        return self._span(padded, self.plan.phase)[edge : edge + len(audio)]

    def _span(self, audio: np.ndarray, phase: str) -> np.ndarray:
        """STFT -> tiles -> generator -> blend -> ``phase`` -> inverse STFT, ``len(audio)``."""
        config, plan = self.spectrogram, self.plan
        spectrogram, input_phase = sp.log_spectrogram(audio, config)
        tiles = self.generate(tiling.tile(spectrogram, config.tile_frames, plan.overlap))
        blended = tiling.blend(tiles, spectrogram.shape[1], plan.overlap, plan.window)
        if phase == "input":
            return sp.invert_log_spectrogram(blended, input_phase, config, len(audio))
        return griffin_lim(
            blended, config, len(audio), n_iter=plan.iterations, init_phase=input_phase
        )

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

        Three passes (:mod:`timbre.convert.files`): the first measures the input's level
        (:class:`timbre.dsp.level.LevelMeter`), the second converts and resamples into a
        scratch file beside the output while measuring the conversion's level, the third
        gives it the input's level, limits (:class:`timbre.dsp.level.PeakLimiter`: never
        clipped), writes, and measures what it wrote (``output_level_db``).

        Args:
            input_path: any file libsndfile reads, any rate, channels mixed to mono.
            output_path: destination; format from its suffix; folders are created.
            sample_rate: output rate in Hz, a whole number from 8000 to 192000; ``None``
                keeps the input's rate.
            subtype: ``"FLOAT"``, ``"PCM_16"`` or ``"PCM_24"`` (see :func:`timbre.io.audio.save`).
            plot_path: if given, a PNG of input and output spectrograms (the same
                span, the first :data:`PLOT_FRAMES` frames at most, at the file's levels).
            progress: show a progress bar in seconds of audio.
            block_frames: input samples read per block.

        Returns:
            A :class:`ConversionResult`; the output has the input's duration
            (``round(frames * sample_rate / input_rate)`` samples).

        Raises:
            AudioError: missing, unreadable or empty input; output folder that
                cannot be created; unknown output format.
            ConfigError: ``sample_rate`` outside 8000 to 192000 Hz or not a whole number.
        """
        return files.convert_file(
            self.generate,
            self.plan,
            self.input_gain_db,
            self.output_gain_db,
            input_path,
            output_path,
            sample_rate,
            subtype=subtype,
            plot_path=plot_path,
            progress=progress,
            block_frames=block_frames,
        )


def load_converter(
    model: str | os.PathLike | None = None,
    *,
    backend: str = ConvertConfig.backend,
    precision: str = ConvertConfig.precision,
    target: str | None = None,
    **kwargs,
) -> Converter:
    """Load a model and make a :class:`Converter` of it: the Python API's one call.

    Args:
        model: a model directory (or the ``generator.keras`` inside one), the name of a
            model shipped with timbre, or ``None`` for the default shipped model (see
            :mod:`timbre.formats.shipped`).
        backend: ``"auto"`` (ONNX Runtime when the directory has ``generator.onnx`` and
            onnxruntime is installed, without importing TensorFlow; else Keras), ``"onnx"``
            or ``"keras"`` (:mod:`timbre.convert.backends`).
        precision: ``"float32"`` or ``"bfloat16"`` (Keras only: ``"auto"`` then picks Keras).
        target: the instrument a multi-target model converts to (default: its first; the
            converter's ``target`` says which); a single-target model takes its own or none.
        **kwargs: :class:`Converter`'s (``phase``, ``iterations``, ``batch_size``,
            ``overlap``, ``context``, ``keep_level``, ``origin_level_db``).

    The level the model was trained at comes from its ``config.json``
    (``origin_level_db``); a model directory that does not record it gets
    :data:`DEFAULT_ORIGIN_LEVEL_DB`, as does an explicit ``origin_level_db=None``.

    Raises:
        ModelError: not a model (or no such shipped model), unreadable files, a shape that
            disagrees with the settings.
        ConfigError: an argument out of range, a target the model was not trained for.
    """
    info = read_model_info(shipped.resolve(model))
    generator, config = load_generator(info, backend=backend, precision=precision, target=target)
    converter = Converter(generator, config, **{"origin_level_db": info.origin_level_db, **kwargs})
    converter.target = info.condition(target)[0]
    return converter
