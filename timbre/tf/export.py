"""Exports of a trained generator (TensorFlow): its ONNX copy, and converters for deployment.

``generator.onnx`` (:func:`write_generator_onnx`): the generator alone, computing
in float32, converted with tf2onnx; what :mod:`timbre.convert.onnx_backend` runs
without TensorFlow. Training writes it whenever it writes ``generator.keras``;
:func:`add_generator_onnx` adds it to a model directory trained before. Its weights
are stored as float32, or as float16 (``weights="float16"``, half the size: the
shipped models' copies), each read through a ``Cast`` to float32.

A converter for deployment (:func:`export_converter`: SavedModel, TFLite or
ONNX) is one graph, waveform in, waveform out, at the model's rate: a 1-D
float32 chunk of any length (at least one sample) -> the same length. Inside:
the STFT (centred Hann frames, zeros beyond the chunk's ends, the DFT as
matrix products so that no complex type or FFT op is needed), the normalised
log-magnitude, tiles at :func:`timbre.dsp.tiling.tile_starts`, the generator
(float32), the blend of :class:`timbre.dsp.tiling.TilingPlan`, the
input's phase, and the inverse STFT normalised by the summed squared window
as ``librosa.istft``. It computes what
:meth:`timbre.convert.converter.Converter.convert_span` computes on the same
chunk (no level matching, no edge prediction): a streaming caller feeds
overlapping chunks and keeps their middles. Needs ``n_fft`` to be a multiple of
``hop_length`` (the overlap-add is reshapes and pads).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from timbre.dsp import stft as sp
from timbre.dsp.tiling import TilingPlan
from timbre.errors import ConfigError, ModelError
from timbre.formats.generator import SOURCE_KEY, source_digest
from timbre.formats.model_dir import ModelDir, read_model_info
from timbre.io.atomic import atomic_folder, atomic_path, temporary_path
from timbre.tf.keras_generator import bound, computing_in, load_model

FORMATS = ("saved_model", "tflite", "onnx")  # converters for deployment
INPUT_NAME, OUTPUT_NAME = "audio", "target"  # a converter's input and output, every format
ONNX_OPSET = 17
WEIGHTS = ("float32", "float16")  # how generator.onnx stores its weights
HALF_MIN_SIZE = 1024  # weights="float16" halves the initializers of at least this many values


def _onnx_proto(function: tf.types.experimental.GenericFunction, specs: list[tf.TensorSpec]):
    """tf2onnx's ModelProto of a ``tf.function`` of ``specs`` (variables frozen)."""
    try:
        import tf2onnx
    except ImportError as e:
        raise ModelError("ONNX export needs tf2onnx (pip install tf2onnx)") from e
    quiet = logging.getLogger("tf2onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=ONNX_OPSET)
    except Exception as e:  # tf2onnx raises ValueError, KeyError, RuntimeError...
        raise ModelError(f"tf2onnx could not convert the graph ({type(e).__name__}: {e})") from e
    finally:
        quiet.setLevel(level)
    return proto


def _write_onnx(proto, path: Path, metadata: dict[str, str]) -> Path:
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return path


def _store_half(graph) -> int:
    """Store ``graph``'s large float32 initializers as float16, each read through a ``Cast``
    to float32 under its old name (the arithmetic stays float32); the number halved.

    Those under :data:`HALF_MIN_SIZE` values (biases, scales: a few kB in all) and those
    float16 cannot hold (beyond 65504) stay float32.
    """
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        if values.size < HALF_MIN_SIZE or np.abs(values).max() > np.finfo(np.float16).max:
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}/half"))
        casts.append(
            helper.make_node("Cast", [f"{name}/half"], [name], f"{name}/cast", to=TensorProto.FLOAT)
        )
    nodes = casts + list(graph.node)  # the casts first: the graph stays topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    return len(casts)


def write_generator_onnx(
    model: keras.Model, path: str | os.PathLike, source: Path, weights: str = "float32"
) -> Path:
    """Write ``model`` as ONNX (computing in float32 whatever its training policy) to ``path``
    atomically.

    Args:
        model: a generator, (batch, n_bins, tile_frames, 1) -> the same shape (a multi-target
            one also takes its one-hot target: the ONNX copy gets both inputs).
        path: the ``.onnx`` file to write.
        source: the ``generator.keras`` it is a copy of: its SHA-256 goes into the
            file's metadata (:data:`timbre.formats.generator.SOURCE_KEY`).
        weights: ``"float32"``, or ``"float16"`` to store the weights at half the size
            (:func:`_store_half`; tiles move by about 1e-4 of their range, less where the
            Keras weights are float16 already, as the shipped models' are).

    Raises:
        ConfigError: an unknown ``weights``.
        ModelError: tf2onnx is not installed or cannot convert the model.
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"weights={weights!r} (expected one of {WEIGHTS})")
    float32 = computing_in(model, "float32")
    specs = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="tiles")]
    if len(model.inputs) > 1:  # a multi-target generator: its one-hot target too
        specs.append(tf.TensorSpec((None, *model.inputs[1].shape[1:]), tf.float32, name="target"))
    function = tf.function(
        lambda *inputs: float32(list(inputs) if len(inputs) > 1 else inputs[0], training=False),
        input_signature=specs,
        autograph=False,
    )
    proto = _onnx_proto(function, specs)
    if weights == "float16":
        _store_half(proto.graph)
    return _write_onnx(proto, Path(path), {SOURCE_KEY: source_digest(source)})


def add_generator_onnx(model_path: str | os.PathLike, weights: str = "float32") -> Path:
    """Write ``generator.onnx`` (``weights`` as :func:`write_generator_onnx`) beside a model
    directory's ``generator.keras``; its path.

    Raises:
        ConfigError: an unknown ``weights``.
        ModelError: not a model directory, an unreadable generator, or no tf2onnx.
    """
    info = read_model_info(model_path)
    model = load_model(info.generator)
    generator_onnx = ModelDir(info.directory).generator_onnx
    return write_generator_onnx(model, generator_onnx, info.generator, weights)


class _Graph:
    """The converter's pieces as TensorFlow ops on one chunk (see the module docstring)."""

    def __init__(self, generator: keras.Model, plan: TilingPlan) -> None:
        config = plan.spectrogram
        self.config, self.plan, self.generator = config, plan, generator
        if config.n_fft % config.hop_length:
            raise ConfigError(
                f"n_fft={config.n_fft}, hop_length={config.hop_length}: export needs n_fft to "
                "be a multiple of hop_length"
            )
        n_fft, n_bins = config.n_fft, config.n_bins
        t, k = np.arange(n_fft)[:, None], np.arange(n_bins)[None, :]
        angle = 2 * np.pi * t * k / n_fft  # (n_fft, n_bins)
        weight = np.where((k == 0) | (2 * k == n_fft), 1.0, 2.0) / n_fft  # irfft's factors
        self.arrays = {  # NumPy: made constants inside the traced function (tf2onnx would take
            # tensors captured from outside for inputs)
            "window": sp.hann_window(n_fft),
            "cos": np.cos(angle),  # frames @ cos: the real part of the DFT's lowest bins
            "sin": -np.sin(angle),  # frames @ sin: the imaginary part
            "icos": (weight * np.cos(angle)).T,  # (n_bins, n_fft): irfft, higher bins zero
            "isin": np.where((k == 0) | (2 * k == n_fft), 0.0, -weight * np.sin(angle)).T,
            "blend_window": plan.window,
        }
        self.scale = sp.magnitude_scale(config)

    def constant(self, name: str) -> tf.Tensor:
        return tf.constant(self.arrays[name], tf.float32)

    def convert(self, audio: tf.Tensor) -> tf.Tensor:
        """(n,) float32 -> (n,) float32."""
        re, im = self.stft(audio)  # each (n_frames, n_bins)
        magnitude = tf.sqrt(re * re + im * im)
        nonzero = magnitude > 0
        cos = tf.where(nonzero, re / tf.where(nonzero, magnitude, 1.0), 1.0)
        sin = tf.where(nonzero, im / tf.where(nonzero, magnitude, 1.0), 0.0)
        blended = self.blend(self.normalise(magnitude * self.scale))
        magnitude = self.denormalise(blended) / self.scale
        return self.istft(magnitude * cos, magnitude * sin, tf.shape(audio)[0])

    def stft(self, audio: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        n_fft, hop = self.config.n_fft, self.config.hop_length
        padded = tf.pad(audio, [[n_fft // 2, n_fft // 2]])
        n_frames = 1 + tf.shape(audio)[0] // hop
        index = _column(tf.range(n_frames) * hop) + _row(tf.range(n_fft))
        frames = tf.gather(padded, index) * self.constant("window")  # (n_frames, n_fft)
        return tf.matmul(frames, self.constant("cos")), tf.matmul(frames, self.constant("sin"))

    def normalise(self, magnitude: tf.Tensor) -> tf.Tensor:
        amin = self.config.amin
        unit = tf.math.log(1.0 + magnitude / amin) / math.log1p(1.0 / amin)  # no Log1p in ONNX
        return tf.clip_by_value(unit, 0.0, 1.0) * 2.0 - 1.0

    def denormalise(self, normalised: tf.Tensor) -> tf.Tensor:
        amin = self.config.amin
        unit = (tf.clip_by_value(normalised, -1.0, 1.0) + 1.0) / 2.0
        return amin * (tf.exp(unit * math.log1p(1.0 / amin)) - 1.0)

    def blend(self, spectrogram: tf.Tensor) -> tf.Tensor:
        """(n_frames, n_bins) -> tiles -> generator -> blended (n_frames, n_bins)."""
        tile_frames = self.config.tile_frames
        n_frames = tf.shape(spectrogram)[0]
        starts = self.tile_starts(n_frames)
        padded = tf.pad(
            spectrogram,
            [[0, tf.maximum(tile_frames - n_frames, 0)], [0, 0]],
            constant_values=sp.SILENCE,
        )
        index = _column(starts) + _row(tf.range(tile_frames))  # (n_tiles, tile_frames)
        tiles = tf.expand_dims(tf.transpose(tf.gather(padded, index), [0, 2, 1]), -1)
        out = tf.squeeze(self.generator(tiles, training=False), -1)
        out = tf.clip_by_value(out, -1.0, 1.0)
        window = self.constant("blend_window")
        weighted = tf.transpose(out, [0, 2, 1]) * _column(window)  # (n_tiles, frames, bins)
        frames = tf.reshape(index, [-1])
        total = tf.maximum(n_frames, tile_frames)
        summed = tf.math.unsorted_segment_sum(
            tf.reshape(weighted, [-1, self.config.n_bins]), frames, total
        )
        weights = tf.math.unsorted_segment_sum(tf.tile(window, tf.shape(starts)), frames, total)
        return (summed / _column(tf.maximum(weights, 1e-12)))[:n_frames]

    def tile_starts(self, n_frames: tf.Tensor) -> tf.Tensor:
        """:func:`timbre.dsp.tiling.tile_starts` of ``n_frames >= 1`` frames with the plan's
        overlap: steps of ``plan.step``, the last tile flush with the end (or one at 0).
        """
        last = tf.maximum(n_frames - self.config.tile_frames, 0)
        return tf.concat([tf.range(0, last, self.plan.step), [last]], axis=0)

    def istft(self, re: tf.Tensor, im: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
        n_fft = self.config.n_fft
        window = self.constant("window")
        frames = tf.matmul(re, self.constant("icos")) + tf.matmul(im, self.constant("isin"))
        signal = self._overlap_add(frames * window)
        squares = tf.tile(_row(window * window), [tf.shape(frames)[0], 1])
        norm = self._overlap_add(squares)
        tiny = float(np.finfo(np.float32).tiny)
        signal = signal / tf.where(norm > tiny, norm, 1.0)
        return signal[n_fft // 2 : n_fft // 2 + length]

    def _overlap_add(self, frames: tf.Tensor) -> tf.Tensor:
        """(n_frames, n_fft) at ``hop_length`` apart -> ((n_frames - 1) * hop + n_fft,)."""
        hop, parts = self.config.hop_length, self.config.n_fft // self.config.hop_length
        pieces = tf.reshape(frames, [-1, parts, hop])
        total = 0.0
        for j in range(parts):
            total += tf.pad(tf.reshape(pieces[:, j], [-1]), [[j * hop, (parts - 1 - j) * hop]])
        return total


def _column(x: tf.Tensor) -> tf.Tensor:
    """``x[:, None]`` without the new-axis slice TFLite's built-in ops lack."""
    return tf.expand_dims(x, 1)


def _row(x: tf.Tensor) -> tf.Tensor:
    """``x[None, :]``, likewise."""
    return tf.expand_dims(x, 0)


def converter_function(generator: keras.Model, plan: TilingPlan, condition=None):
    """The converter of the module docstring: ``(tf.function of audio, its input spec)``; a
    multi-target generator bound to ``condition`` (its one-hot target)."""
    graph = _Graph(bound(computing_in(generator, "float32"), condition), plan)
    spec = tf.TensorSpec((None,), tf.float32, name="audio")
    return tf.function(graph.convert, input_signature=[spec], autograph=False), spec


def export_converter(
    model_path: str | os.PathLike,
    output: str | os.PathLike,
    format: str,
    *,
    overlap: int | None = None,
    context: int | None = None,
    target: str | None = None,
) -> Path:
    """Write a self-contained converter (module docstring) for deployment; for a multi-target
    model, a converter to ``target`` (default: its first).

    Args:
        model_path: a model directory or the ``generator.keras`` inside one.
        output: the file (``tflite``, ``onnx``) or folder (``saved_model``) to write; it is
            replaced atomically.
        format: ``"saved_model"`` (function ``serve(audio)``, signatures ``serve`` and
            ``serving_default``; ``sample_rate[0]``, the rate), ``"tflite"`` (built-in ops
            only; signature ``serve``: ``audio`` -> ``output_0``) or ``"onnx"`` (input
            ``audio``, one output; metadata ``timbre_sample_rate``).
        overlap, context: tiling as :class:`timbre.convert.converter.Converter`.
        target: the instrument to convert to (:meth:`timbre.formats.model_dir.ModelInfo.condition`).

    Returns:
        ``output``.

    Raises:
        ConfigError: an unknown format or target, or settings the graph cannot express.
        ModelError: not a model, an unreadable generator, a missing tf2onnx.
    """
    if format not in FORMATS:
        raise ConfigError(f"format={format!r} (expected one of {FORMATS})")
    info = read_model_info(model_path)
    chosen, condition = info.condition(target)
    plan = TilingPlan.create(info.spectrogram, overlap=overlap, context=context)
    generator = load_model(info.generator)
    function, spec = converter_function(generator, plan, condition)
    output, rate = Path(output), info.spectrogram.sample_rate
    metadata = deploy_metadata(info, chosen)
    with _tensorflow_errors(output):
        if format == "onnx":
            proto = _onnx_proto(function, [spec])
            _name_output(proto.graph, OUTPUT_NAME)
            flat = {f"timbre_{key}": _text(value) for key, value in metadata.items()}
            return _write_onnx(proto, output, flat)
        if format == "saved_model":
            with atomic_folder(output) as tmp:
                _write_saved_model(generator, function, spec, rate, tmp)
                extra = tmp / "assets.extra"
                extra.mkdir(exist_ok=True)
                (extra / "timbre.json").write_text(json.dumps(metadata, indent=2) + "\n")
            return output
        output.parent.mkdir(parents=True, exist_ok=True)
        scratch = temporary_path(output, folder=True)  # removed by the next run if killed
        try:
            _write_saved_model(generator, function, spec, rate, scratch / "saved_model")
            converter = tf.lite.TFLiteConverter.from_saved_model(
                str(scratch / "saved_model"), signature_keys=["serve"]
            )  # (from the function itself, Keras 3's variables stay READ_VARIABLE ops, never set)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            flatbuffer = converter.convert()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        sidecar = sidecar_path(output)
        with atomic_path(sidecar) as tmp:  # first: a .tflite never appears without it
            tmp.write_text(json.dumps(metadata, indent=2) + "\n")
        with atomic_path(output) as tmp:
            tmp.write_bytes(flatbuffer)
    return output


def sidecar_path(tflite: str | os.PathLike) -> Path:
    """Where a ``.tflite`` converter's metadata goes: ``<file>.json`` beside it."""
    return Path(f"{tflite}.json")


def deploy_metadata(info, target: str | None) -> dict:
    """What a deployer needs to run an exported converter without reading timbre's code:
    the rate, the level the model expects its input at, the instruments, the I/O names."""
    return {
        "sample_rate": info.spectrogram.sample_rate,
        "origin_level_db": info.origin_level_db,
        "origin": info.origin,
        "target": target or info.target,
        "targets": list(info.targets) or [target or info.target],
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "timbre_version": _version(),
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("timbre")
    except PackageNotFoundError:
        return "unknown"


def _text(value) -> str:
    """A metadata value as ONNX's string map holds it (lists comma-separated, None empty)."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def _name_output(graph, name: str) -> None:
    """Rename the graph's one output to ``name`` (tf2onnx calls it ``Identity:0``)."""
    from onnx import helper

    (output,) = graph.output
    graph.node.append(helper.make_node("Identity", [output.name], [name], f"{name}/identity"))
    output.name = name


@contextlib.contextmanager
def _tensorflow_errors(path: Path):
    """TensorFlow's write errors as the ``OSError`` they are (a full disk, a read-only file
    system, no permission: ``cli.common.run`` says so in one line naming ``path``), any
    other as a one-line :class:`ModelError`."""
    try:
        yield
    except tf.errors.OpError as e:
        first = (e.message.strip().splitlines() or [""])[0]
        for code, words in _OS_WORDS:
            if words in e.message:
                raise OSError(code, os.strerror(code), str(path)) from e
        raise ModelError(f"{path}: TensorFlow could not write the export ({first})") from e


_OS_WORDS = (
    (errno.ENOSPC, "No space left on device"),
    (errno.EROFS, "Read-only file system"),
    (errno.EACCES, "Permission denied"),
)


def _write_saved_model(
    generator: keras.Model, function, spec: tf.TensorSpec, sample_rate: int, folder: Path
) -> None:
    """A SavedModel with endpoint ``serve`` (and ``serving_default``) and ``sample_rate``."""
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint(
        "serve", lambda audio: {OUTPUT_NAME: function(audio)}, input_signature=[spec]
    )
    archive.add_variable_collection("sample_rate", [tf.Variable(sample_rate, trainable=False)])
    archive.write_out(str(folder), verbose=False)
