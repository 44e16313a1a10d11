"""Edge extension (timbre/dsp/edges.py): the block processor equals the whole-array padding."""

from __future__ import annotations

import numpy as np
import pytest

from timbre.dsp import edges


@pytest.mark.parametrize("n_samples", [1, 7, 3999, 4000, 4001, 30000])
@pytest.mark.parametrize("pad", [0, 96, 1024])
def test_extender_in_random_blocks_equals_pad_edges(n_samples, pad, rng):
    """Any cut into blocks (empty ones included) gives ``pad_edges`` bitwise."""
    rate = 16000  # edge_fit_samples: 4000
    t = np.arange(n_samples) / rate
    audio = (0.5 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.standard_normal(n_samples)).astype(
        np.float32
    )
    expected = edges.pad_edges(audio, pad, rate)
    assert expected.shape == (n_samples + 2 * pad,)
    cuts = np.sort(rng.integers(0, n_samples + 1, size=6))
    extender = edges.EdgeExtender(pad, rate)
    parts = [extender.feed(block) for block in np.split(audio, cuts)]
    out = np.concatenate(parts + [extender.finish()])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[pad : pad + n_samples], audio)


def test_extender_holds_the_start_until_it_can_be_predicted():
    rate = 16000
    extender = edges.EdgeExtender(64, rate)
    fit = edges.edge_fit_samples(rate)
    assert extender.feed(np.zeros(fit - 1, np.float32)).shape == (0,)
    assert extender.feed(np.zeros(1, np.float32)).shape == (fit + 64,)
    assert extender.feed(np.ones(10, np.float32)).shape == (10,)
    assert extender.finish().shape == (64,)
