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


def test_the_spectral_convergence_term_is_that_of_the_linear_magnitude(rng):
    from timbre.dsp.stft import denormalise
    from timbre.settings import SpectrogramConfig

    config = SpectrogramConfig()
    model = Pix2Pix(build_generator(TINY_MODEL, 32, 32), sc_weight=0.5, amin=config.amin)
    origin, target = _pairs(rng, n=3)
    fake = np.tanh(origin + 0.1).astype(np.float32)
    made, real = denormalise(fake, config), denormalise(target, config)
    expected = np.mean(
        [np.linalg.norm(m - r) / np.linalg.norm(r) for m, r in zip(made, real, strict=True)]
    )
    assert float(model._spectral_convergence(fake, target)) == pytest.approx(expected, rel=1e-4)
    assert float(model._spectral_convergence(target, target)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("with_discriminator", [False, True])
def test_sc_weight_adds_the_convergence_to_the_minimised_loss(rng, with_discriminator):
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator(TINY_MODEL, 32, 32) if with_discriminator else None
    model = Pix2Pix(build_generator(TINY_MODEL, 32, 32), discriminator, sc_weight=0.5)
    model.compile(adam(1e-3), adam(1e-3) if with_discriminator else None)
    origin, target = _pairs(rng)
    data = tf.data.Dataset.from_tensor_slices((origin, target)).batch(4)
    history = {k: v[0] for k, v in model.fit(data, epochs=1, verbose=0).history.items()}
    assert {"gen_total", "gen_l1", "gen_sc"} <= set(history)
    l1 = 100 * history["gen_l1"] + history["gen_gan"] if with_discriminator else history["gen_l1"]
    assert history["gen_total"] == pytest.approx(l1 + 0.5 * history["gen_sc"], rel=1e-4)
    assert history["gen_sc"] > 0
