"""A tiny model directory with ``generator.onnx``, for the contract tests.

(A plain module, not a ``conftest.py``: the suite imports its root ``conftest`` by name.)
"""

from __future__ import annotations

from pathlib import Path

from helpers import SMALL_SPEC, TINY_MODEL, write_model_dir


def write_onnx_model(folder: Path) -> Path:
    """A seeded tiny U-Net (SMALL_SPEC tiles) as a model directory with ``generator.onnx``.

    Made with the full environment (Keras, tf2onnx); returns the model directory.
    """
    import keras

    from timbre.tf.export import add_generator_onnx
    from timbre.tf.networks import build_generator

    keras.utils.set_random_seed(0)
    generator = build_generator(TINY_MODEL, SMALL_SPEC.n_bins, SMALL_SPEC.tile_frames)
    model = write_model_dir(folder, SMALL_SPEC, generator)
    add_generator_onnx(model)
    return model
