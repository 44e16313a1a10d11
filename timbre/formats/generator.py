"""What a converter needs of its network, whichever runtime runs it (TensorFlow-free).

A :class:`Generator` maps a batch of normalised log-magnitude tiles, float32
of shape (batch, n_bins, tile_frames) in [-1, 1], to the same shape. Two
runtimes implement it, each in its own small module:

- ONNX Runtime (:mod:`timbre.convert.onnx_backend`, no TensorFlow) runs a
  model directory's ``generator.onnx``: a float32 copy of ``generator.keras``
  that training writes beside it (and :mod:`timbre.tf.export` adds to
  an older model directory). The copy records the SHA-256 of the
  ``generator.keras`` it was made from (:data:`SOURCE_KEY`), so a copy left
  behind by another generator is never used.
- Keras (:mod:`timbre.tf.keras_generator`, TensorFlow) runs
  ``generator.keras`` itself, in float32 or bfloat16.

:mod:`timbre.convert.backends` chooses between them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import numpy as np

from timbre.errors import ConfigError, ModelError
from timbre.settings import SpectrogramConfig

BACKENDS = ("auto", "onnx", "keras")  # "auto": ONNX Runtime when it can, else Keras
PRECISIONS = ("float32", "bfloat16")  # generator arithmetic; bfloat16: Keras only, ~2x faster on
# CPUs with AVX512-BF16/AMX
SOURCE_KEY = "timbre_source_sha256"  # ONNX metadata: SHA-256 (hex) of the generator.keras the
# ONNX copy was made from


class Generator(Protocol):
    """The network of a converter: tiles in, tiles out, on some runtime."""

    backend: str  # "onnx" or "keras"
    precision: str  # "float32" or "bfloat16"
    tile_shape: tuple[int, int]  # (n_bins, tile_frames) of the tiles it takes

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """(batch, n_bins, tile_frames) float32 in [-1, 1] -> the same shape, float32."""
        ...


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} (expected one of {PRECISIONS})")


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} (expected one of {BACKENDS})")


def check_io_count(inputs: int, outputs: int, condition, name: str) -> None:
    """Raise ModelError unless a network has the inputs its use needs: the tiles, and a
    multi-target model's one-hot target exactly when ``condition`` is given; one output.
    """
    wanted = 1 if condition is None else 2
    if inputs != wanted or outputs != 1:
        raise ModelError(
            f"{name}: {inputs} inputs and {outputs} outputs (expected "
            f"{'tiles and a target' if wanted == 2 else 'tiles'} in, tiles out)"
        )


def check_tile_shape(shapes: list[tuple], config: SpectrogramConfig, name: str) -> tuple[int, int]:
    """Check a network's input and output shapes (without the batch axis) against ``config``.

    Args:
        shapes: ``[input_shape, output_shape]``, each (n_bins, tile_frames, 1).
        config: the spectrogram settings the network should have been trained with.
        name: what to call the network in an error (its file).

    Returns:
        ``(n_bins, tile_frames)``.

    Raises:
        ModelError: a shape differs from (n_bins, tile_frames, 1).
    """
    expected = (config.n_bins, config.tile_frames, 1)
    if any(tuple(shape) != expected for shape in shapes):
        raise ModelError(
            f"{name}: input/output shapes {[tuple(s) for s in shapes]} (expected "
            f"(batch, *{expected}) from the spectrogram settings); was it trained with other "
            "settings?"
        )
    return config.n_bins, config.tile_frames


def source_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file: what an ONNX copy records of its ``generator.keras``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
