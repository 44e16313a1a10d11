"""Fixtures of the contract tests: a tiny model directory with ``generator.onnx``."""

from __future__ import annotations

import pytest
from helpers import SMALL_SPEC, TINY_MODEL, write_model_dir


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory):
    """A tiny trained-shape model directory (seeded U-Net, SMALL_SPEC) with ``generator.onnx``.

    Made with the full environment (Keras, tf2onnx); treat as read-only.
    """
    import keras

    from timbre.tf.export import add_generator_onnx
    from timbre.tf.networks import build_generator

    keras.utils.set_random_seed(0)
    generator = build_generator(TINY_MODEL, SMALL_SPEC.n_bins, SMALL_SPEC.tile_frames)
    model = write_model_dir(tmp_path_factory.mktemp("onnx_model") / "model", SMALL_SPEC, generator)
    add_generator_onnx(model)
    return model
