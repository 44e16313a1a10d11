import numpy as np
import pytest
from helpers import TINY_MODEL

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from timbre.errors import ConfigError  # noqa: E402
from timbre.tf.networks import build_discriminator, build_generator  # noqa: E402
from timbre.tf.pix2pix import GAN_METRICS, Pix2Pix, adam  # noqa: E402


def _gan(with_discriminator=True, lr=2e-4):
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator(TINY_MODEL, 32, 32) if with_discriminator else None
    model = Pix2Pix(build_generator(TINY_MODEL, 32, 32), discriminator)
    model.compile(adam(lr), adam(lr) if with_discriminator else None)
    return model


def _pairs(rng, n=8):
    origin = rng.uniform(-1, 1, (n, 32, 32, 1)).astype(np.float32)
    target = np.clip(0.2 - 0.7 * origin, -1, 1).astype(np.float32)
    return origin, target


def test_one_epoch_gives_finite_losses_then_l1_falls(rng):
    model = _gan(lr=2e-3)
    origin, target = _pairs(rng)
    data = tf.data.Dataset.from_tensor_slices((origin, target)).batch(4)
    history = model.fit(data, validation_data=data, epochs=1, verbose=0).history
    assert set(history) == set(GAN_METRICS) | {f"val_{name}" for name in GAN_METRICS}
    assert all(np.isfinite(values[0]) for values in history.values())
    assert history["gen_total"][0] == pytest.approx(
        history["gen_gan"][0] + 100 * history["gen_l1"][0], rel=1e-4
    )
    assert model.optimizer.iterations.numpy() == 2 and model.disc_optimizer.iterations.numpy() == 2
    # the model can learn: the L1 on one fixed batch falls over a few dozen steps
    fixed = tf.data.Dataset.from_tensors((origin, target)).repeat()
    before = model.fit(fixed, steps_per_epoch=1, epochs=1, verbose=0).history["gen_l1"][0]
    model.fit(fixed, steps_per_epoch=40, epochs=1, verbose=0)
    after = model.fit(fixed, steps_per_epoch=1, epochs=1, verbose=0).history["gen_l1"][0]
    assert after < 0.8 * before


def test_generator_mode_tracks_l1_only(rng):
    model = _gan(with_discriminator=False)
    history = model.fit(*_pairs(rng), batch_size=4, epochs=1, verbose=0).history
    assert set(history) == {"gen_l1"} and np.isfinite(history["gen_l1"][0])
    assert len(model.optimizers) == 1


def test_state_variables_cover_both_optimisers(rng):
    model = _gan()
    model.build_optimizers()
    paths = [v.path for v in model.state_variables()]
    n_net = len(model.generator.variables) + len(model.discriminator.variables)
    n_opt = len(model.optimizer.variables) + len(model.disc_optimizer.variables)
    assert len(paths) == n_net + n_opt
    assert any("seed_generator_state" in p for p in paths)  # dropout masks resume exactly
    assert len(model.disc_optimizer.variables) > 2 * len(model.discriminator.trainable_variables)


def test_compile_checks_optimisers():
    model = Pix2Pix(build_generator(TINY_MODEL, 32, 32), build_discriminator(TINY_MODEL, 32, 32))
    with pytest.raises(ConfigError, match="disc_optimizer is missing"):
        model.compile(adam(1e-3))
