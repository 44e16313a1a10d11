import numpy as np
import pytest
from helpers import TINY_MODEL

keras = pytest.importorskip("keras")

from timbre.errors import ConfigError  # noqa: E402
from timbre.settings import ModelConfig  # noqa: E402
from timbre.tf.networks import build_discriminator, build_generator  # noqa: E402


def test_default_generator_has_pix2pix_size():
    generator = build_generator(ModelConfig(), 256, 256)
    assert round(generator.count_params() / 1e6, 1) == 54.4
    assert generator.output_shape == (None, 256, 256, 1)
    assert build_discriminator(ModelConfig(), 256, 256).output_shape == (None, 30, 30, 1)
    normalised = {
        layer.name.removesuffix("_bn") for layer in generator.layers if layer.name.endswith("_bn")
    }
    assert {"down1", "down6", "up0"} <= normalised and not {
        "down0",
        "down7",
    } & normalised  # 1x1 bottleneck: no BN


@pytest.mark.parametrize("n_bins,tile_frames", [(32, 32), (32, 64)])
def test_generator_keeps_shape_and_range(rng, n_bins, tile_frames):
    generator = build_generator(TINY_MODEL, n_bins, tile_frames)
    tiles = rng.uniform(-1, 1, (3, n_bins, tile_frames, 1)).astype(np.float32) * 50
    out = np.asarray(generator(tiles, training=True))
    assert out.shape == tiles.shape
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= -1 and out.max() <= 1
    logits = build_discriminator(TINY_MODEL, n_bins, tile_frames)([tiles, out])
    assert logits.shape == (3, n_bins // 8 - 2, tile_frames // 8 - 2, 1)


def test_depth_changes_blocks():
    shallow = build_generator(ModelConfig(base_filters=4, depth=3), 32, 32)
    deep = build_generator(ModelConfig(base_filters=4, depth=5), 32, 32)
    assert len([layer for layer in shallow.layers if layer.name.startswith("down")]) < len(
        [layer for layer in deep.layers if layer.name.startswith("down")]
    )
    assert [layer.rate for layer in deep.layers if layer.name.endswith("dropout")] == [
        0.5,
        0.5,
        0.5,
    ]


def test_mixed_precision_output_is_float32(rng):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        generator = build_generator(TINY_MODEL, 32, 32)
        discriminator = build_discriminator(TINY_MODEL, 32, 32)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    tiles = rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    assert generator.layers[1].compute_dtype == "bfloat16"
    assert generator(tiles).dtype == "float32"
    assert discriminator([tiles, tiles]).dtype == "float32"


def test_tile_shape_checked():
    with pytest.raises(
        ConfigError, match="n_bins=48 is not a positive multiple of 2\\*\\*depth=32"
    ):
        build_generator(TINY_MODEL, 48, 32)
    with pytest.raises(ConfigError, match="tile_frames=16 does not fit a PatchGAN"):
        build_discriminator(TINY_MODEL, 32, 16)
