"""The Keras runtime of a generator: ``generator.keras`` run by TensorFlow.

The fallback for model directories without ``generator.onnx`` (or without
onnxruntime), and the only runtime for bfloat16 arithmetic.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from timbre.config import SpectrogramConfig
from timbre.conversion.generator import check_precision, check_tile_shape
from timbre.errors import ModelError
from timbre.modeldir import NOT_A_MODEL

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # precision -> layer dtype policy


class KerasGenerator:
    """A Keras generator as a :class:`timbre.conversion.generator.Generator`.

    Args:
        model: maps (batch, n_bins, tile_frames, 1) in [-1, 1] to the same shape.
        precision: ``"float32"`` (every layer computes in float32, whatever policy the model
            was trained or saved with) or ``"bfloat16"`` (the same weights, every layer but
            the float32 output layer computing in bfloat16: about 2x faster on CPUs with
            AVX512-BF16 or AMX, slower elsewhere; outputs differ by ~1e-2).
        config: the spectrogram settings, to check the model's shape against (optional).
        name: what to call the model in an error.

    Raises:
        ConfigError: an unknown precision.
        ModelError: the model's shape is not (batch, n_bins, tile_frames, 1) in and out.
    """

    backend = "keras"

    def __init__(
        self,
        model: keras.Model,
        precision: str = "float32",
        config: SpectrogramConfig | None = None,
        name: str = "generator",
    ) -> None:
        check_precision(precision)
        shapes = _shapes(model, name)
        if config is not None:
            check_tile_shape(shapes, config, name)
        elif shapes[0] != shapes[1] or len(shapes[0]) != 3 or shapes[0][2] != 1:
            raise ModelError(
                f"{name}: input/output shapes {shapes} (expected (batch, n_bins, tile_frames, 1) "
                "in and out)"
            )
        self.model, self.precision = model, precision
        self.tile_shape = (int(shapes[0][0]), int(shapes[0][1]))
        spec = tf.TensorSpec((None, *self.tile_shape, 1), tf.float32)
        computing = computing_in(model, POLICIES[precision])
        self._forward = tf.function(lambda x: computing(x, training=False), input_signature=[spec])

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(tiles[..., None], dtype=np.float32)
        return np.asarray(self._forward(batch), dtype=np.float32)[..., 0]

    def count_params(self) -> int:
        return int(self.model.count_params())


def _shapes(model: keras.Model, name: str) -> list[tuple]:
    try:
        return [tuple(model.input_shape)[1:], tuple(model.output_shape)[1:]]
    except (AttributeError, ValueError, TypeError) as e:
        raise ModelError(
            f"{name}: a model without a fixed input shape (expected (batch, n_bins, "
            "tile_frames, 1))"
        ) from e


def computing_in(model: keras.Model, policy: str) -> keras.Model:
    """``model`` itself when all its layers compute in ``policy``'s dtype, else a copy with the
    same weights whose layers do (the output layer stays float32 under a mixed policy).
    """
    last = model.layers[-1].name

    def wanted(layer: keras.layers.Layer) -> str:
        return "float32" if layer.name == last else policy

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if all(layer.dtype_policy.name == wanted(layer) for layer in layers):
        return model

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = wanted(layer)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def load_model(path: str | os.PathLike) -> keras.Model:
    """``keras.saving.load_model`` in safe mode, its errors as :class:`ModelError`."""
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, TypeError, zipfile errors...
        raise ModelError(
            f"{path}: not a loadable Keras model ({type(e).__name__}: {e}) ({NOT_A_MODEL})"
        ) from e


def load(path: str | os.PathLike, config: SpectrogramConfig, precision: str) -> KerasGenerator:
    """The ``generator.keras`` at ``path``, checked against ``config``, computing in
    ``precision``.

    Raises:
        ModelError: an unreadable file or a shape that disagrees with ``config``.
    """
    return KerasGenerator(load_model(path), precision, config, str(path))
