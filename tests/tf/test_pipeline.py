"""timbre.tf.pipeline: the datasets a run's ``fit`` iterates (epochs chained, tf.data options).

The multi-target mixing is tested in test_multitarget.py, the sharding across workers in
test_distribute.py.
"""

from __future__ import annotations

import numpy as np
from helpers import FAST, TINY_MODEL, make_features


def test_train_data_chains_the_epochs_a_resumed_run_reads(tmp_path):
    """Epoch e's batches depend on seed and e alone; exactly ``steps`` of them, also across a pass
    (16 pairs: 4 batches of 4 per pass)."""
    from timbre.tf.pairs import pair_dataset
    from timbre.tf.pipeline import open_data, train_data
    from timbre.tf.run import prepare

    features = make_features(tmp_path)
    run, manifest = prepare(
        features, tmp_path / "m", "keys", "strings", "gan", TINY_MODEL, FAST, False, False
    )
    data = open_data(run, manifest)

    def batches(chained) -> list[np.ndarray]:
        return [origin for origin, _ in chained.as_numpy_iterator()]

    whole = batches(train_data(run, data, range(0, 3), 5))
    resumed = batches(train_data(run, data, range(1, 3), 5))
    assert len(whole) == 15 and len(resumed) == 10
    for got, want in zip(resumed, whole[5:]):
        np.testing.assert_array_equal(got, want)
    epoch_2 = pair_dataset(
        data.train[0], 4, seed=FAST.seed + 2, augment=True, drop_remainder=True, repeat=True
    )
    for got, want in zip(whole[10:], batches(epoch_2.take(5))):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(whole[0], whole[5])  # every epoch its own order


def test_training_and_validation_pipelines_run_without_tf_data_autotuning(tmp_path):
    """Autotuning on, about half of the ``fit`` calls ran the step on one of two cores
    (``bench/bench_train.py``); the options must reach the pipeline ``fit`` iterates."""
    import tensorflow as tf

    from timbre.tf.pipeline import open_data, train_data, val_data
    from timbre.tf.run import prepare

    features = make_features(tmp_path)
    run, manifest = prepare(
        features, tmp_path / "m", "keys", "strings", "gan", TINY_MODEL, FAST, False, False
    )
    data = open_data(run, manifest)
    pipelines = [
        train_data(run, data, range(0, 2), 3),
        val_data(run, data, tf.distribute.get_strategy()),
    ]
    assert [pipeline.options().autotune.enabled for pipeline in pipelines] == [False, False]
