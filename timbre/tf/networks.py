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

Several targets (``n_targets > 1``): both networks take a second input, the
target as a one-hot vector (batch, n_targets). The generator applies it
FiLM-style (Perez et al. 2018) to the innermost code and to every up block,
after its BatchNorm: ``x + x * gamma + beta``, where ``gamma`` and ``beta``
are per-channel values a bias-free Dense layer looks up for the target. Why
there: the encoder describes the input, which is the same whatever the target,
and the decoder paints the target's sound, so the decoder is what must depend
on it; a per-channel scale and shift is cheap (1,504 weights per target for the
demo model, 6,016 for the default one), has no spatial extent to learn, and
starts at zero, so a new model begins as the single-target one. Concatenating constant planes to the
input instead would make the encoder carry the target through every skip
connection. The discriminator does take planes (the one-hot repeated over the
tile, beside the pair): it must judge "is this a real *guitar* for that
input", and a few input channels are all it needs. Both are deterministic:
the same input and target give the same output. Standard layers only (Dense,
Reshape, Multiply, Add, UpSampling2D), so safe mode still loads the generator.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from timbre.errors import ConfigError
from timbre.settings import ModelConfig

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


def _up(x, filters: int, dropout: float, name: str, target=None):
    """Transposed conv 4x4 stride 2 -> BatchNorm -> [FiLM of ``target``] -> [Dropout] -> ReLU:
    doubles height and width."""
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
    if target is not None:
        x = _film(x, target, filters, name)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.ReLU(name=f"{name}_act")(x)


def _film(x, target, filters: int, name: str):
    """``x + x * gamma + beta``, ``gamma`` and ``beta`` per channel, looked up for ``target``
    (one-hot) by bias-free Dense layers that start at zero (module docstring)."""

    def lookup(kind: str):
        value = layers.Dense(
            filters, use_bias=False, kernel_initializer="zeros", name=f"{name}_{kind}"
        )(target)
        return layers.Reshape((1, 1, filters), name=f"{name}_{kind}_plane")(value)

    scaled = layers.Multiply(name=f"{name}_scale")([x, lookup("gamma")])
    return layers.Add(name=f"{name}_film")([x, scaled, lookup("beta")])


def _target_input(n_targets: int):
    if not isinstance(n_targets, int) or n_targets < 1:
        raise ConfigError(f"n_targets={n_targets!r} (expected a positive integer)")
    return keras.Input((n_targets,), name="target") if n_targets > 1 else None


def build_generator(
    config: ModelConfig, n_bins: int, tile_frames: int, n_targets: int = 1
) -> keras.Model:
    """The U-Net generator: ``depth`` down blocks, ``depth - 1`` up blocks with skips, tanh.

    Args:
        config: architecture.
        n_bins: tile height (frequency bins); a multiple of ``2**config.depth``.
        tile_frames: tile width (frames); a multiple of ``2**config.depth``.
        n_targets: target instruments; above 1, the model also takes the target, one-hot
            (module docstring).

    Returns:
        A functional ``keras.Model`` named "generator": input (batch, n_bins,
        tile_frames, 1) (and with several targets a second one, (batch, n_targets)),
        output of the tile's shape in [-1, 1], float32.

    Raises:
        ConfigError: the tile shape does not fit the depth.
    """
    check_tile_shape(config, n_bins, tile_frames)
    target = _target_input(n_targets)
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
    if target is not None:
        x = _film(x, target, block_filters(config, config.depth - 1), name="code")
    for j, skip in enumerate(reversed(skips[:-1])):
        # j=0: (batch, 2, 2, 512) -> with skip (batch, 2, 2, 1024) ...
        # j=6: (batch, 128, 128, 64 + 64)
        filters = block_filters(config, config.depth - 2 - j)
        dropout = config.dropout if j < config.dropout_blocks else 0.0
        x = _up(x, filters, dropout, name=f"up{j}", target=target)
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
    return keras.Model(inputs if target is None else [inputs, target], outputs, name="generator")


def build_discriminator(
    config: ModelConfig, n_bins: int, tile_frames: int, n_targets: int = 1
) -> keras.Model:
    """The PatchGAN discriminator conditioned on the input tile (70x70 patches at the defaults).

    Args:
        config: architecture (``base_filters``, ``disc_layers``).
        n_bins: tile height; a multiple of ``2**config.disc_layers``, at least 3 times it.
        tile_frames: tile width, likewise.
        n_targets: target instruments; above 1, also conditioned on the target (one-hot,
            repeated over the tile as extra input channels).

    Returns:
        A functional ``keras.Model`` named "discriminator" taking ``[origin,
        candidate]`` (each (batch, n_bins, tile_frames, 1); with several targets
        ``[origin, candidate, target]``) and returning
        float32 logits (batch, n_bins / 2**disc_layers - 2, tile_frames / 2**disc_layers - 2, 1),
        i.e. (batch, 30, 30, 1) at the defaults; one real/fake logit per patch.

    Raises:
        ConfigError: the tile is too small or not divisible by ``2**disc_layers``.
    """
    check_tile_shape(dataclasses.replace(config, depth=1), n_bins, tile_frames, discriminator=True)
    origin = keras.Input((n_bins, tile_frames, 1), name="origin")  # (batch, 256, 256, 1)
    candidate = keras.Input((n_bins, tile_frames, 1), name="candidate")  # (batch, 256, 256, 1)
    target = _target_input(n_targets)
    planes = []
    if target is not None:  # (batch, n_targets) -> (batch, 256, 256, n_targets)
        point = layers.Reshape((1, 1, n_targets), name="target_point")(target)
        planes = [layers.UpSampling2D((n_bins, tile_frames), name="target_planes")(point)]
    x = layers.Concatenate(name="pair")([origin, candidate, *planes])  # (batch, 256, 256, 2)
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
    inputs = [origin, candidate] + ([target] if target is not None else [])
    return keras.Model(inputs, logits, name="discriminator")
