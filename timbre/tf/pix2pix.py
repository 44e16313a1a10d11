"""The Pix2Pix GAN as a ``keras.Model`` with its own ``train_step`` and ``test_step``.

Generator loss = BCE(D(x, G(x)), real) + ``l1_weight`` x |G(x) - y|; discriminator
loss = BCE(D(x, y), real) + BCE(D(x, G(x)), fake); both optimised with their own
Adam. Without a discriminator the model trains the generator alone on the L1
loss (``train_generator.py``). ``fit`` compiles both steps to a graph.

With ``sc_weight > 0`` the generator loss adds ``sc_weight`` x the spectral convergence
of the tile's linear magnitude, ||M(G(x)) - M(y)|| / ||M(y)|| (Frobenius norms per
tile, the normalisation undone: :func:`timbre.dsp.stft.denormalise`). L1 on the
log-compressed values weighs a quiet valley like a loud harmonic and settles on their
average, a haze between the partials; the convergence is dominated by the harmonics
and punishes energy put between them. It is tracked as ``gen_sc``, the minimised sum
as ``gen_total``.

Several targets (networks built with ``n_targets > 1``, :mod:`timbre.tf.networks`):
each batch is ``((origin, target_one_hot), target_tiles)``, both networks get the
one-hot, and ``gen_l1_<target>`` trackers report each target's L1 beside the
overall ``gen_l1`` (the validation set holds every target's pairs).

Losses are computed in float32 whatever the mixed-precision policy (both
networks end in a float32 layer). Under a ``tf.distribute`` strategy each
replica's loss is divided by the number of replicas, so the summed gradients
are those of the global batch mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from timbre.errors import ConfigError

GAN_METRICS = ("gen_total", "gen_gan", "gen_l1", "disc")
GENERATOR_METRICS = ("gen_l1",)
SC_FLOOR = 1e-6  # keeps the spectral convergence of an all-silent tile finite


def target_metric(target: str) -> str:
    """The tracker of one target's L1 in a multi-target model (``val_`` + it in validation)."""
    return f"gen_l1_{target}"


def adam(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    beta_1: float = 0.5,
    loss_scaling: bool = False,
) -> keras.optimizers.Optimizer:
    """Adam as in pix2pix (lr 2e-4, beta_1 0.5), wrapped for fp16 loss scaling if asked.

    ``learning_rate`` may be a Keras schedule (of the optimiser's step count).
    """
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaling else optimizer


def _bce_with_logits(logits, real: bool):
    """Mean binary cross-entropy of logits against an all-real (1) or all-fake (0) label.

    Computed in float32.
    """
    logits = ops.cast(logits, "float32")
    labels = ops.ones_like(logits) if real else ops.zeros_like(logits)
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


def _per_replica(loss):
    """Scale a replica's mean loss so that gradients summed over replicas give the global mean's."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


class Pix2Pix(keras.Model):
    """Generator (+ optional PatchGAN discriminator) trained together.

    ``compile(gen_optimizer, disc_optimizer)`` replaces Keras' loss/optimizer
    arguments; ``model(origin)`` runs the generator. Metric trackers (reset
    each epoch, prefixed ``val_`` for validation by ``fit``): ``gen_total``,
    ``gen_gan``, ``gen_l1``, ``disc`` with a discriminator, ``gen_l1`` without.

    Args:
        generator: maps (batch, n_bins, tile_frames, 1) to the same shape in [-1, 1].
        discriminator: maps ``[origin, candidate]`` to patch logits; ``None``
            trains the generator alone on the L1 loss.
        l1_weight: weight of the L1 term of the generator loss (GAN mode only).
        sc_weight: weight of the spectral-convergence term (0: none).
        amin: the spectrogram's magnitude floor (``SpectrogramConfig.amin``), to undo
            the tiles' normalisation for the spectral convergence.
        targets: the target instruments of a multi-target model, in one-hot order (empty or
            one: a single-target model, batches ``(origin, target)``).
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        l1_weight: float = 100.0,
        targets: Sequence[str] = (),
        sc_weight: float = 0.0,
        amin: float = 2.0**-16,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.sc_weight, self.amin = float(sc_weight), float(amin)
        self.targets = tuple(targets) if len(targets) > 1 else ()
        names = GAN_METRICS if discriminator is not None else GENERATOR_METRICS
        if self.sc_weight > 0 and discriminator is None:
            names = ("gen_total", *names, "gen_sc")
        elif self.sc_weight > 0:
            names += ("gen_sc",)
        names += tuple(target_metric(target) for target in self.targets)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.disc_optimizer = None

    def compile(
        self,
        gen_optimizer: keras.optimizers.Optimizer,
        disc_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs,
    ) -> None:
        """Set the two optimisers (``disc_optimizer`` only with a discriminator)."""
        if (disc_optimizer is None) != (self.discriminator is None):
            raise ConfigError(
                "Pix2Pix.compile: disc_optimizer is "
                f"{'missing' if disc_optimizer is None else 'given'} (expected one exactly when "
                "there is a discriminator)"
            )
        super().compile(optimizer=gen_optimizer, **kwargs)
        self.disc_optimizer = disc_optimizer

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def optimizers(self) -> list[keras.optimizers.Optimizer]:
        """The generator's optimiser, then the discriminator's if any."""
        return [opt for opt in (self.optimizer, self.disc_optimizer) if opt is not None]

    def build_optimizers(self) -> None:
        """Create the optimisers' slot variables now (before restoring a checkpoint)."""
        self.optimizer.build(self.generator.trainable_variables)
        if self.disc_optimizer is not None:
            self.disc_optimizer.build(self.discriminator.trainable_variables)

    def state_variables(self) -> list:
        """Everything a checkpoint must hold: both networks (weights, BatchNorm
        statistics, dropout seed states) and both optimisers (step, moments)."""
        variables = list(self.generator.variables)
        if self.discriminator is not None:
            variables += self.discriminator.variables
        for optimizer in self.optimizers:
            variables += optimizer.variables
        return variables

    def call(self, origin, training: bool = False):
        return self.generator(origin, training=training)

    def _forward(self, inputs, target, training: bool) -> tuple[dict, object]:
        """Forward pass of both networks; returns (losses by tracker name, prediction)."""
        origin, condition = inputs if self.targets else (inputs, None)
        fake = self.generator(inputs, training=training)
        per_sample = ops.mean(ops.abs(ops.cast(target, "float32") - fake), axis=(1, 2, 3))
        for k, name in enumerate(self.targets):  # each target's mean over its own samples
            self.trackers[target_metric(name)].update_state(per_sample, condition[:, k])
        l1 = ops.mean(per_sample)
        detail = {}
        if self.sc_weight > 0:
            detail["gen_sc"] = self._spectral_convergence(fake, ops.cast(target, "float32"))
        if self.discriminator is None:
            if not detail:
                return {"gen_l1": l1}, fake
            return {
                "gen_total": l1 + self.sc_weight * detail["gen_sc"],
                "gen_l1": l1,
                **detail,
            }, fake
        extra = [condition] if self.targets else []
        real_logits = self.discriminator([origin, target, *extra], training=training)
        fake_logits = self.discriminator([origin, fake, *extra], training=training)
        gan = _bce_with_logits(fake_logits, real=True)
        disc = _bce_with_logits(real_logits, real=True) + _bce_with_logits(fake_logits, real=False)
        total = gan + self.l1_weight * l1
        if detail:
            total = total + self.sc_weight * detail["gen_sc"]
        return {"gen_total": total, "gen_gan": gan, "gen_l1": l1, "disc": disc, **detail}, fake

    def _spectral_convergence(self, fake, target):
        """The batch mean of each tile's ||M(fake) - M(target)|| / ||M(target)||, with M the
        linear magnitude (the inverse of :func:`timbre.dsp.stft.normalise`, in float32)."""

        def magnitude(tiles):
            unit = (ops.clip(tiles, -1.0, 1.0) + 1.0) / 2.0
            return self.amin * ops.expm1(unit * float(np.log1p(1.0 / self.amin)))

        made, real = magnitude(fake), magnitude(target)
        error = ops.sqrt(ops.sum(ops.square(made - real), axis=(1, 2, 3)))
        norm = ops.sqrt(ops.sum(ops.square(real), axis=(1, 2, 3)))
        return ops.mean(error / (norm + SC_FLOOR))

    def _update_trackers(self, losses: dict) -> dict:
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        origin, target = data
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            losses, _ = self._forward(origin, target, training=True)
            gen_loss = self.optimizer.scale_loss(
                _per_replica(losses.get("gen_total", losses["gen_l1"]))
            )
            if self.discriminator is not None:
                disc_loss = self.disc_optimizer.scale_loss(_per_replica(losses["disc"]))
        gen_variables = self.generator.trainable_variables
        self.optimizer.apply(gen_tape.gradient(gen_loss, gen_variables), gen_variables)
        if self.discriminator is not None:
            disc_variables = self.discriminator.trainable_variables
            self.disc_optimizer.apply(disc_tape.gradient(disc_loss, disc_variables), disc_variables)
        return self._update_trackers(losses)

    def test_step(self, data):
        origin, target = data
        losses, _ = self._forward(origin, target, training=False)
        return self._update_trackers(losses)
