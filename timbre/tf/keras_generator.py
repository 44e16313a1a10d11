"""The Keras runtime of a generator: ``generator.keras`` run by TensorFlow.

The fallback for model directories without ``generator.onnx`` (or without
onnxruntime), and the only runtime for bfloat16 arithmetic.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from timbre.errors import ModelError
from timbre.formats.generator import check_io_count, check_precision, check_tile_shape
from timbre.formats.model_dir import NOT_A_MODEL, check_model_file
from timbre.settings import SpectrogramConfig

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # precision -> layer dtype policy


class KerasGenerator:
    """A Keras generator as a :class:`timbre.formats.generator.Generator`.

    Args:
        model: maps (batch, n_bins, tile_frames, 1) in [-1, 1] to the same shape.
        precision: ``"float32"`` (every layer computes in float32, whatever policy the model
            was trained or saved with) or ``"bfloat16"`` (the same weights, every layer but
            the float32 output layer computing in bfloat16: about 2x faster on CPUs with
            AVX512-BF16 or AMX, slower elsewhere; outputs differ by ~1e-2).
        config: the spectrogram settings, to check the model's shape against (optional).
        name: what to call the model in an error.
        condition: a multi-target model's target, one-hot (its second input, repeated for
            every tile); ``None`` for a single-target model.

    Raises:
        ConfigError: an unknown precision.
        ModelError: the model's shape is not (batch, n_bins, tile_frames, 1) in and out, or it
            takes a target and none was given (or the reverse).
    """

    backend = "keras"

    def __init__(
        self,
        model: keras.Model,
        precision: str = "float32",
        config: SpectrogramConfig | None = None,
        name: str = "generator",
        condition: np.ndarray | None = None,
    ) -> None:
        check_precision(precision)
        check_io_count(len(model.inputs), len(model.outputs), condition, name)
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
        computing = bound(computing_in(model, POLICIES[precision]), condition)
        self._forward = tf.function(lambda x: computing(x, training=False), input_signature=[spec])

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(tiles[..., None], dtype=np.float32)
        return np.asarray(self._forward(batch), dtype=np.float32)[..., 0]

    def count_params(self) -> int:
        return int(self.model.count_params())


def bound(model: keras.Model, condition: np.ndarray | None):
    """``model`` as a function of the tiles alone: a multi-target generator with its target
    input fixed to ``condition`` (one-hot), else ``model`` itself."""
    if condition is None:
        return model
    one_hot = np.asarray(condition, dtype=np.float32)[None]

    def call(tiles, training: bool = False):
        # the constant is made where the call is traced: a graph constant, not a captured
        # tensor (which tf2onnx would make an input)
        targets = tf.repeat(tf.constant(one_hot), tf.shape(tiles)[0], axis=0)
        return model([tiles, targets], training=training)

    return call


def _shapes(model: keras.Model, name: str) -> list[tuple]:
    try:
        return [tuple(model.inputs[0].shape)[1:], tuple(model.output_shape)[1:]]
    except (AttributeError, ValueError, TypeError) as e:
        raise ModelError(
            f"{name}: a model without a fixed input shape (expected (batch, n_bins, "
            "tile_frames, 1))"
        ) from e


def computing_in(model: keras.Model, policy: str) -> keras.Model:
    """``model`` itself when its layers compute as ``policy`` says, else a copy with the same
    weights whose layers do: all of them, nested models included, for ``"float32"``; all but
    the (float32) output layer for a mixed policy.
    """
    if policy == "float32":
        if _compute_dtypes(model) == {"float32"}:
            return model
        copy = model.__class__.from_config(_float32_config(model.get_config()))
    else:
        last = model.layers[-1].name

        def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
            config = layer.get_config()
            if layer.name != last:
                config["dtype"] = policy
            return layer.__class__.from_config(config)

        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _compute_dtypes(model: keras.Model) -> set[str]:
    """The compute dtypes of ``model``'s layers, nested models' layers included."""
    found = set()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found |= _compute_dtypes(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            found.add(layer.dtype_policy.compute_dtype)
    return found


def _float32_config(config):
    """A model's config with every layer's ``dtype`` (policy) set to float32, at any depth."""
    if isinstance(config, dict):
        return {k: "float32" if k == "dtype" else _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    return config


def load_model(path: str | os.PathLike) -> keras.Model:
    """``keras.saving.load_model`` in safe mode, its errors as one-line ModelErrors.

    The archive is checked first (:func:`timbre.formats.model_dir.check_model_file`): a
    truncated file is called corrupt (Keras would say "not found") and one carrying code is
    refused without Keras's configuration dump.
    """
    check_model_file(path)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, TypeError, zipfile errors...
        first = (str(e).strip().splitlines() or [""])[0]  # Keras appends configuration dumps
        raise ModelError(
            f"{path}: not a loadable Keras model ({type(e).__name__}: {first}) ({NOT_A_MODEL})"
        ) from e


def load(
    path: str | os.PathLike,
    config: SpectrogramConfig,
    precision: str,
    condition: np.ndarray | None = None,
) -> KerasGenerator:
    """The ``generator.keras`` at ``path``, checked against ``config``, computing in
    ``precision`` (bound to ``condition``, a multi-target model's one-hot target).

    Raises:
        ModelError: an unreadable file or a shape that disagrees with ``config``.
    """
    return KerasGenerator(load_model(path), precision, config, str(path), condition)
