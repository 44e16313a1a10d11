"""Which runtime runs a model directory's generator, and loading it (TensorFlow-free itself).

``backend="auto"`` (the default everywhere) takes ONNX Runtime
(:mod:`timbre.convert.onnx_backend`) when the model directory has a
``generator.onnx`` made from its ``generator.keras``, onnxruntime is installed
and the precision is float32; otherwise Keras
(:mod:`timbre.tf.keras_generator`, which imports TensorFlow). Both give
the same tiles within 1e-4. bfloat16 arithmetic is Keras's alone: ONNX Runtime's
CPU kernels compute float32, so ``backend="onnx"`` with ``precision="bfloat16"``
is refused.
"""

from __future__ import annotations

import os
import warnings

from timbre.convert import onnx_backend
from timbre.errors import ConfigError, MissingExtraError, ModelError
from timbre.formats.generator import Generator, check_backend, check_precision
from timbre.formats.model_dir import ModelInfo, read_model_info
from timbre.settings import SpectrogramConfig


def choose_backend(info: ModelInfo, backend: str = "auto", precision: str = "float32") -> str:
    """``"onnx"`` or ``"keras"``: the runtime :func:`load_generator` starts with (nothing is
    loaded; with ``"auto"``, a ``generator.onnx`` found stale at loading still falls back to
    Keras).

    Raises:
        ConfigError: an unknown backend or precision, or ONNX with bfloat16.
        ModelError: ``backend="onnx"`` without ``generator.onnx`` or without onnxruntime.
    """
    check_backend(backend)
    check_precision(precision)
    if backend == "onnx":
        if precision != "float32":
            raise ConfigError(
                f"precision={precision!r} with backend='onnx' (expected 'float32': ONNX Runtime "
                "computes in float32 on CPUs); use backend='keras' or 'auto' for bfloat16"
            )
        if info.generator_onnx is None:
            raise ModelError(
                f"{info.directory}: no generator.onnx (expected the ONNX copy training writes); "
                f"add it with `timbre export --model {info.directory} --format generator_onnx`"
            )
        if not onnx_backend.available():
            raise ModelError(
                "backend='onnx': onnxruntime is not installed (pip install onnxruntime)"
            )
        return "onnx"
    if backend == "keras" or precision != "float32" or info.generator_onnx is None:
        return "keras"
    return "onnx" if onnx_backend.available() else "keras"


def load_generator(
    model_path: str | os.PathLike | ModelInfo,
    *,
    backend: str = "auto",
    precision: str = "float32",
    target: str | None = None,
) -> tuple[Generator, SpectrogramConfig]:
    """Load a trained generator and the spectrogram settings it was trained with.

    A multi-target model's generator is bound to one target (``target``, default its
    first): the returned generator maps tiles to tiles like any other.

    Args:
        model_path: a model directory (``config.json`` + ``generator.keras``, and
            ``generator.onnx`` when training wrote one) or the ``generator.keras``
            inside one, or its :class:`timbre.formats.model_dir.ModelInfo`.
        backend: ``"auto"``, ``"onnx"`` or ``"keras"`` (module docstring).
        precision: ``"float32"`` or ``"bfloat16"`` (Keras only).
        target: the instrument to convert to (:meth:`timbre.formats.model_dir.ModelInfo.condition`).

    Returns:
        ``(generator, spectrogram_config)``; the generator maps (batch, n_bins,
        tile_frames) float32 in [-1, 1] to the same shape.

    Raises:
        ConfigError: an unknown backend, precision or target, or ONNX with bfloat16.
        ModelError: the path is not a model, a file is unreadable, the generator's
            shape disagrees with the settings, or (``backend="onnx"``) there is no usable
            ``generator.onnx``.
        MissingExtraError: the Keras runtime is needed and TensorFlow or Keras is not
            installed (``pip install 'timbre[train]'``).
    """
    info = model_path if isinstance(model_path, ModelInfo) else read_model_info(model_path)
    _, condition = info.condition(target)
    if choose_backend(info, backend, precision) == "onnx":
        try:
            return onnx_backend.load(
                info.generator_onnx, info.spectrogram, info.generator, condition
            ), info.spectrogram
        except ModelError as e:  # stale or unreadable: the Keras original still converts
            if backend == "onnx":
                raise
            warnings.warn(f"{e}; converting with Keras instead", stacklevel=2)
    keras_generator = _keras_runtime(info)
    return keras_generator.load(
        info.generator, info.spectrogram, precision, condition
    ), info.spectrogram


def _keras_runtime(info: ModelInfo):
    """:mod:`timbre.tf.keras_generator` (TensorFlow starts here).

    Raises:
        MissingExtraError: TensorFlow or Keras is not installed; the message says how to
            install it, or how to give the model a ``generator.onnx`` instead.
    """
    try:
        from timbre.tf import keras_generator
    except ModuleNotFoundError as e:
        hint = None
        if info.generator_onnx is None:
            hint = (
                f"or add generator.onnx to {info.directory} with `timbre export --model "
                f"{info.directory} --format generator_onnx` where TensorFlow is installed"
            )
        missing = MissingExtraError.from_import_error(
            e, f"{info.directory}: converting with Keras", hint
        )
        if missing is None:
            raise
        raise missing from e
    return keras_generator
