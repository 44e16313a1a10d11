"""The pix2pix networks: a U-Net generator and a PatchGAN discriminator.

Both follow Isola et al. (2017) and the TensorFlow pix2pix tutorial: 4x4
convolutions with stride 2, BatchNorm (not in the first and the innermost down
block, as the official pix2pix U-Net), LeakyReLU(0.2) going down, ReLU going
up, dropout 0.5 in the first three up blocks, skip connections, a tanh output
and weights drawn from N(0, 0.02). Inputs and outputs are normalised
log-magnitude tiles, shape (batch, n_bins, tile_frames, 1), values in [-1, 1].

Only standard Keras layers are used, so a saved generator loads with
``keras.saving.load_model(path, safe_mode=True)`` without any custom object.
Under a mixed-precision policy the last layer of each network computes in
float32, so the generator's output (tanh) and the discriminator's logits are
float32.

Shape comments below are for the defaults (256x256 tiles, base_filters=64,
depth=8); ``f(i) = min(base_filters * 2**i, base_filters * max_filters_factor)``.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from timbre.config import ModelConfig
from timbre.errors import ConfigError

LEAK = 0.2  # LeakyReLU slope


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def block_filters(config: ModelConfig, index: int) -> int:
    """Filters of down block ``index`` (0-based): doubling from base_filters, capped."""
    return min(config.base_filters * 2**index, config.base_filters * config.max_filters_factor)


def check_tile_shape(
    config: ModelConfig, n_bins: int, tile_frames: int, discriminator: bool = False
) -> None:
    """Raise unless both tile sides are positive multiples of ``2**config.depth`` (and, with
    ``discriminator``, fit the PatchGAN: multiples of ``2**disc_layers``, at least 3 times it).

    Raises:
        ConfigError: a side does not fit (names the side and the setting).
    """
    size, disc = 2**config.depth, 2**config.disc_layers
    for name, value in (("n_bins", n_bins), ("tile_frames", tile_frames)):
        if not isinstance(value, int) or value <= 0 or value % size:
            raise ConfigError(
                f"tile shape: {name}={value} is not a positive multiple of 2**depth={size} "
                f"(depth={config.depth}); use a smaller --depth or other spectrogram settings"
            )
        if discriminator and (value % disc or value // disc < 3):
            raise ConfigError(
                f"tile shape: {name}={value} does not fit a PatchGAN with disc_layers="
                f"{config.disc_layers} (expected a multiple of {disc}, at least {3 * disc})"
            )


def _down(x, filters: int, batchnorm: bool, name: str):
    """Conv 4x4 stride 2 -> [BatchNorm] -> LeakyReLU: halves height and width."""
    x = layers.Conv2D(
        filters,
        4,
        strides=2,
        padding="same",
        kernel_initializer=_init(),
        use_bias=not batchnorm,
        name=f"{name}_conv",
    )(x)
    if batchnorm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.LeakyReLU(LEAK, name=f"{name}_act")(x)


def _up(x, filters: int, dropout: float, name: str):
    """Transposed conv 4x4 stride 2 -> BatchNorm -> [Dropout] -> ReLU: doubles height and width."""
    x = layers.Conv2DTranspose(
        filters,
        4,
        strides=2,
        padding="same",
        kernel_initializer=_init(),
        use_bias=False,
        name=f"{name}_deconv",
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.ReLU(name=f"{name}_act")(x)


def build_generator(config: ModelConfig, n_bins: int, tile_frames: int) -> keras.Model:
    """The U-Net generator: ``depth`` down blocks, ``depth - 1`` up blocks with skips, tanh.

    Args:
        config: architecture.
        n_bins: tile height (frequency bins); a multiple of ``2**config.depth``.
        tile_frames: tile width (frames); a multiple of ``2**config.depth``.

    Returns:
        A functional ``keras.Model`` named "generator": input (batch, n_bins,
        tile_frames, 1), output of the same shape in [-1, 1], float32.

    Raises:
        ConfigError: the tile shape does not fit the depth.
    """
    check_tile_shape(config, n_bins, tile_frames)
    inputs = keras.Input((n_bins, tile_frames, 1), name="origin")  # (batch, 256, 256, 1)
    x, skips = inputs, []
    for i in range(config.depth):
        # i=0: (batch, 128, 128, 64) ... i=3: (batch, 16, 16, 512) ... i=7: (batch, 1, 1, 512)
        # No BatchNorm in the first block (as pix2pix) nor in the innermost one (as the
        # official pix2pix U-Net): at 1x1 it would normalise batch_size values per channel,
        # and its moving averages then disagree with training-time statistics, which made
        # validation loss jump between epochs.
        x = _down(x, block_filters(config, i), batchnorm=0 < i < config.depth - 1, name=f"down{i}")
        skips.append(x)
    for j, skip in enumerate(reversed(skips[:-1])):
        # j=0: (batch, 2, 2, 512) -> with skip (batch, 2, 2, 1024) ...
        # j=6: (batch, 128, 128, 64 + 64)
        filters = block_filters(config, config.depth - 2 - j)
        x = _up(x, filters, config.dropout if j < config.dropout_blocks else 0.0, name=f"up{j}")
        x = layers.Concatenate(name=f"skip{j}")([x, skip])
    outputs = layers.Conv2DTranspose(
        1,
        4,
        strides=2,
        padding="same",
        kernel_initializer=_init(),
        activation="tanh",
        dtype="float32",
        name="output",
    )(x)  # (batch, 256, 256, 1)
    return keras.Model(inputs, outputs, name="generator")


def build_discriminator(config: ModelConfig, n_bins: int, tile_frames: int) -> keras.Model:
    """The PatchGAN discriminator conditioned on the input tile (70x70 patches at the defaults).

    Args:
        config: architecture (``base_filters``, ``disc_layers``).
        n_bins: tile height; a multiple of ``2**config.disc_layers``, at least 3 times it.
        tile_frames: tile width, likewise.

    Returns:
        A functional ``keras.Model`` named "discriminator" taking ``[origin,
        candidate]`` (each (batch, n_bins, tile_frames, 1)) and returning
        float32 logits (batch, n_bins / 2**disc_layers - 2, tile_frames / 2**disc_layers - 2, 1),
        i.e. (batch, 30, 30, 1) at the defaults; one real/fake logit per patch.

    Raises:
        ConfigError: the tile is too small or not divisible by ``2**disc_layers``.
    """
    check_tile_shape(dataclasses.replace(config, depth=1), n_bins, tile_frames, discriminator=True)
    origin = keras.Input((n_bins, tile_frames, 1), name="origin")  # (batch, 256, 256, 1)
    candidate = keras.Input((n_bins, tile_frames, 1), name="candidate")  # (batch, 256, 256, 1)
    x = layers.Concatenate(name="pair")([origin, candidate])  # (batch, 256, 256, 2)
    for i in range(config.disc_layers):
        # i=0: (batch, 128, 128, 64); i=1: (batch, 64, 64, 128); i=2: (batch, 32, 32, 256)
        x = _down(x, block_filters(config, i), batchnorm=i > 0, name=f"disc{i}")
    x = layers.ZeroPadding2D(name="pad0")(x)  # (batch, 34, 34, 256)
    x = layers.Conv2D(
        block_filters(config, config.disc_layers),
        4,
        kernel_initializer=_init(),
        use_bias=False,
        name="patch_conv",
    )(x)  # (batch, 31, 31, 512)
    x = layers.BatchNormalization(name="patch_bn")(x)
    x = layers.LeakyReLU(LEAK, name="patch_act")(x)
    x = layers.ZeroPadding2D(name="pad1")(x)  # (batch, 33, 33, 512)
    logits = layers.Conv2D(1, 4, kernel_initializer=_init(), dtype="float32", name="logits")(
        x
    )  # (batch, 30, 30, 1)
    return keras.Model([origin, candidate], logits, name="discriminator")
