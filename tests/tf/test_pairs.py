"""timbre.tf.pairs: the tf.data pipeline of tile pairs.

Shapes, order, augmentation, silence, memory and errors.
"""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import FEATURE_INSTRUMENTS, write_audio_folder, write_feature_store

from timbre.data.features import compute_features
from timbre.dsp import tiling
from timbre.errors import ConfigError, DatasetError
from timbre.formats.feature_store import load_manifest, manifest_path, tile_path
from timbre.settings import FeatureConfig, SpectrogramConfig
from timbre.tf.pairs import (
    count_pairs,
    make_dataset,
    open_pairs,
    pair_dataset,
    split_by_fraction,
)

ORIGIN, TARGET = FEATURE_INSTRUMENTS
STORE = {
    "p0": (5, "train"),
    "p1": (3, "train"),
    "p2": (1, "train"),
    "p3": (4, "val"),
    "p4": (2, "test"),
}


@pytest.fixture
def store(tmp_path, small_spec_config):
    return write_feature_store(tmp_path / "f", STORE, small_spec_config)


def codes(batch):
    """The constant each default-filled tile holds: piece number * 100 + tile number."""
    return np.round(np.asarray(batch)[:, 0, 0, 0] * 10_000).astype(int)


def collect(dataset):
    origin, target = zip(*[(o.numpy(), t.numpy()) for o, t in dataset])
    return np.concatenate(origin), np.concatenate(target)


def test_batches_have_the_contract_shape(store, small_spec_config):
    dataset = make_dataset(store, ORIGIN, TARGET, "train", 4, spectrogram=small_spec_config)
    batches = list(dataset)
    assert [len(o) for o, _ in batches] == [4, 4, 1]
    for origin, target in batches:
        assert (
            origin.dtype.name == "float32"
            and origin.shape[1:] == (32, 32, 1)
            and target.shape == origin.shape
        )
        assert -1.0 <= float(np.min(origin)) and float(np.max(origin)) <= 1.0
    assert count_pairs(store, ORIGIN, TARGET, "train") == 9
    assert len(list(make_dataset(store, ORIGIN, TARGET, "train", 4, drop_remainder=True))) == 2


def test_every_pair_once_per_pass_and_aligned(store):
    origin, target = collect(make_dataset(store, ORIGIN, TARGET, "train", 2, augment=False))
    expected = sorted([0 * 100 + i for i in range(5)] + [100 + i for i in range(3)] + [200])
    assert sorted(codes(origin)) == expected
    np.testing.assert_array_equal(
        origin, target
    )  # tile i of origin and target of one piece, together


def test_splits_never_share_a_piece(store):
    seen = {
        split: set(codes(collect(make_dataset(store, ORIGIN, TARGET, split, 8))[0]) // 100)
        for split in ("train", "val", "test")
    }
    assert seen == {"train": {0, 1, 2}, "val": {3}, "test": {4}}


def test_shuffle_is_seeded_and_changes_every_pass(store):
    def order(dataset):
        return list(codes(collect(dataset)[0]))

    dataset = make_dataset(store, ORIGIN, TARGET, "train", 3, seed=7, augment=False)
    first = order(dataset)
    assert order(dataset) == first  # iterated again: the same batches (a function of the seed)
    repeated = make_dataset(store, ORIGIN, TARGET, "train", 3, seed=7, augment=False, repeat=True)
    passes = order(repeated.take(6))
    assert passes[:9] == first and sorted(passes[9:]) == sorted(first) and passes[9:] != first
    assert order(make_dataset(store, ORIGIN, TARGET, "train", 3, seed=8, augment=False)) != first
    plain = order(make_dataset(store, ORIGIN, TARGET, "train", 3, shuffle=False, augment=False))
    assert plain == sorted(plain)


def test_a_tensor_seed_gives_the_batches_of_its_value(store):
    """A seed made inside ``flat_map`` (as the training loop derives one per epoch) orders and
    shifts the pairs as the same int does."""
    import tensorflow as tf

    pairs = open_pairs(store, ORIGIN, TARGET, "train")
    epochs = tf.data.Dataset.range(4, 6).flat_map(
        lambda epoch: pair_dataset(pairs, 2, seed=epoch * 3 + 1, repeat=True).take(2)
    )
    want = [pair_dataset(pairs, 2, seed=seed, repeat=True).take(2) for seed in (13, 16)]
    np.testing.assert_array_equal(collect(epochs)[0], collect(want[0].concatenate(want[1]))[0])


def test_repeat_goes_on_past_one_pass(store):
    batches = list(make_dataset(store, ORIGIN, TARGET, "val", 3, repeat=True).take(5))
    assert len(batches) == 5 and all(len(o) == 3 for o, _ in batches)


def frame_numbers(instrument, piece, n_tiles, frames=32):
    """Tiles whose every value is the absolute frame number (exact in float16)."""
    numbers = np.arange(n_tiles * frames, dtype=np.float16).reshape(n_tiles, 1, frames)
    return np.broadcast_to(numbers, (n_tiles, 32, frames))


def test_augmentation_cuts_aligned_contiguous_windows(tmp_path, small_spec_config):
    store = write_feature_store(
        tmp_path / "f",
        {"a": (4, "train"), "b": (1, "train"), "c": (3, "val")},
        small_spec_config,
        fill=frame_numbers,
    )
    origin, target = collect(make_dataset(store, ORIGIN, TARGET, "train", 5, seed=3))
    np.testing.assert_array_equal(origin, target)  # the same shift on both sides
    first = origin[:, 0, 0, 0]
    np.testing.assert_array_equal(
        origin[:, 0, :, 0], first[:, None] + np.arange(32)
    )  # contiguous frames
    assert np.all(first <= 3 * 32) and np.any(first % 32 != 0)  # inside the piece, really shifted
    many = np.concatenate(
        [
            collect(make_dataset(store, ORIGIN, TARGET, "train", 5, seed=s))[0][:, 0, 0, 0]
            for s in range(4)
        ]
    )
    assert len(np.unique(many)) > 8
    val, _ = collect(
        make_dataset(store, ORIGIN, TARGET, "val", 5)
    )  # off by default outside "train"
    assert sorted(val[:, 0, 0, 0]) == [0, 32, 64]
    shifted, _ = collect(make_dataset(store, ORIGIN, TARGET, "val", 5, augment=True, seed=1))
    np.testing.assert_array_equal(shifted[:, 0, :, 0], shifted[:, 0, :1, 0] + np.arange(32))


def test_augmentation_with_overlap_and_a_flush_last_tile(tmp_path, small_spec_config):
    starts = tiling.tile_starts(
        100, 32, overlap=8
    )  # [0, 24, 48, 68]: the last tile sits flush with the end

    def fill(instrument, piece, n_tiles):
        return np.broadcast_to((starts[:, None] + np.arange(32))[:, None, :], (n_tiles, 32, 32))

    store = write_feature_store(
        tmp_path / "f",
        {"a": (len(starts), "train")},
        small_spec_config,
        fill=fill,
        features=FeatureConfig(overlap=8),
        n_frames={"a": 100},
    )
    firsts = []
    for seed in range(6):
        origin, target = collect(make_dataset(store, ORIGIN, TARGET, "train", 4, seed=seed))
        np.testing.assert_array_equal(origin, target)
        np.testing.assert_array_equal(origin[:, 0, :, 0], origin[:, 0, :1, 0] + np.arange(32))
        firsts.extend(origin[:, 0, 0, 0])
    assert min(firsts) >= 0 and max(firsts) <= 68 and len(set(firsts)) > 10


def test_near_silent_pairs_are_dropped_unless_kept(tmp_path, small_spec_config):
    peaks = {"a": {ORIGIN: [-10.0, -90.0, -90.0, -30.0], TARGET: [-90.0, -90.0, -10.0, -30.0]}}
    store = write_feature_store(
        tmp_path / "f", {"a": (4, "train"), "b": (2, "val")}, small_spec_config, peaks=peaks
    )
    assert count_pairs(store, ORIGIN, TARGET, "train") == 3
    assert sorted(
        codes(collect(make_dataset(store, ORIGIN, TARGET, "train", 8, augment=False))[0])
    ) == [0, 2, 3]
    assert count_pairs(store, ORIGIN, TARGET, "train", keep_silent=True) == 4
    assert count_pairs(store, ORIGIN, TARGET, "val") == 2  # no peaks recorded: nothing dropped
    kept = write_feature_store(
        tmp_path / "g",
        {"a": (4, "train")},
        small_spec_config,
        peaks=peaks,
        features=FeatureConfig(keep_silent=True),
    )
    assert count_pairs(kept, ORIGIN, TARGET, "train") == 4
    silent = {"a": {ORIGIN: [-90.0] * 4, TARGET: [-90.0] * 4}}
    quiet = write_feature_store(
        tmp_path / "h", {"a": (4, "train")}, small_spec_config, peaks=silent
    )
    with pytest.raises(
        DatasetError, match="all 4 tile pairs of keyboard_acoustic/string_acoustic are near silence"
    ):
        make_dataset(quiet, ORIGIN, TARGET, "train", 2)


def test_silent_audio_warns_and_its_pairs_are_dropped(tmp_path, small_spec_config):
    from timbre.io import audio

    audios = write_audio_folder(tmp_path / "audios", {"a": (1.0, "train"), "b": (0.8, "train")})
    for instrument in FEATURE_INSTRUMENTS:
        audio.save(audios / instrument / "b.wav", np.zeros(12800, np.float32), 16000)
    with pytest.warns(UserWarning, match="b.wav: audio is silent"):
        compute_features(audios, tmp_path / "f", spectrogram=small_spec_config, progress=False)
    manifest = load_manifest(tmp_path / "f")
    n_a, n_b = manifest.pieces["a"]["n_tiles"], manifest.pieces["b"]["n_tiles"]
    assert manifest.pieces["b"]["peak_db"][ORIGIN] == [-200.0] * n_b
    assert count_pairs(tmp_path / "f", ORIGIN, TARGET, "train") == n_a
    assert count_pairs(tmp_path / "f", ORIGIN, TARGET, "train", keep_silent=True) == n_a + n_b


def test_explicit_piece_lists_and_split_by_fraction(store):
    split = split_by_fraction(["p0", "p1", "p2", "p3"], 0.25, seed=0)
    assert (
        sorted(split["train"] + split["val"]) == ["p0", "p1", "p2", "p3"] and len(split["val"]) == 1
    )
    assert not set(split["train"]) & set(split["val"])
    assert split_by_fraction(["p3", "p2", "p1", "p0"], 0.25, seed=0) == split
    assert count_pairs(store, ORIGIN, TARGET, ["p0", "p4"]) == 7
    with pytest.raises(ConfigError, match=r"val_fraction=1.5 must lie in \(0, 1\)"):
        split_by_fraction(["a", "b"], 1.5)
    with pytest.raises(ConfigError, match="1 piece\\(s\\) \\(expected at least 2"):
        split_by_fraction(["a"], 0.5)
    with pytest.raises(DatasetError, match=r"pieces \['zz'\] are not in the features"):
        count_pairs(store, ORIGIN, TARGET, ["zz"])


def test_features_from_audio_feed_the_pipeline(tmp_path, small_spec_config):
    audios = write_audio_folder(tmp_path / "audios", {"a": (1.2, "train"), "b": (0.6, "val")})
    compute_features(audios, tmp_path / "f", spectrogram=small_spec_config, progress=False)
    manifest = load_manifest(tmp_path / "f")
    assert manifest.audios_path == audios.resolve() and manifest.split["val"] == ["b"]
    origin, target = collect(
        make_dataset(tmp_path / "f", ORIGIN, TARGET, "val", 8, keep_silent=True, shuffle=False)
    )
    tiles = np.load(tile_path(tmp_path / "f", ORIGIN, "b")).astype(np.float32)
    np.testing.assert_array_equal(origin[..., 0], tiles)
    assert not np.array_equal(origin, target)


def test_errors_name_what_is_wrong(store, small_spec_config, tmp_path):
    other = SpectrogramConfig(
        sample_rate=16000, n_fft=256, hop_length=128, n_bins=16, tile_frames=32
    )
    with pytest.raises(
        ConfigError, match=r"other spectrogram settings: n_bins=32 \(requested 16\)"
    ):
        make_dataset(store, ORIGIN, TARGET, "train", 2, spectrogram=other)
    with pytest.raises(
        DatasetError,
        match="target instrument 'guitar_acoustic' is not in the features.*"
        "available: keyboard_acoustic, string_acoustic",
    ):
        make_dataset(store, ORIGIN, "guitar_acoustic", "train", 2)
    with pytest.raises(ConfigError, match="split 'validation'"):
        make_dataset(store, ORIGIN, TARGET, "validation", 2)
    with pytest.raises(ConfigError, match="batch_size=0 must be a positive integer"):
        make_dataset(store, ORIGIN, TARGET, "train", 0)
    with pytest.raises(ConfigError, match="seed=-1 must be a non-negative integer"):
        make_dataset(store, ORIGIN, TARGET, "train", 2, seed=-1)
    empty = write_feature_store(
        tmp_path / "e", {"a": (2, "train"), "b": (1, "train"), "c": (1, "test")}, small_spec_config
    )
    with pytest.raises(
        DatasetError,
        match=r"split 'val' has 0 pieces \(3 pieces in total: train 2, val 0, test 1\)",
    ):
        make_dataset(empty, ORIGIN, TARGET, "val", 2)


def test_corrupt_tile_files_are_named(store):
    path = tile_path(store, TARGET, "p1")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(
        DatasetError, match="string_acoustic/p1.npy: truncated or corrupt tile file"
    ):
        make_dataset(store, ORIGIN, TARGET, "train", 2)
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DatasetError, match="p1.npy: corrupt tile file"):
        make_dataset(store, ORIGIN, TARGET, "train", 2)
    np.save(path, np.zeros((2, 32, 32), np.float16))
    with pytest.raises(
        DatasetError, match=r"p1.npy: tiles of shape \(2, 32, 32\) \(expected \(3, 32, 32\)"
    ):
        make_dataset(store, ORIGIN, TARGET, "train", 2)
    path.unlink()
    with pytest.raises(DatasetError, match="p1.npy: tile file not found"):
        make_dataset(store, ORIGIN, TARGET, "train", 2)


def test_manifest_problems_reach_the_caller(tmp_path, small_spec_config):
    store = write_feature_store(tmp_path / "f", STORE, small_spec_config, n_frames={"p0": 64})
    with pytest.raises(DatasetError, match="piece 'p0' has 5 tiles but n_frames=64 gives 2"):
        make_dataset(store, ORIGIN, TARGET, "train", 2)
    manifest_path(store).write_text("{")
    with pytest.raises(DatasetError, match="manifest.json: not valid JSON"):
        make_dataset(store, ORIGIN, TARGET, "train", 2)
    manifest_path(store).unlink()
    with pytest.raises(DatasetError, match="manifest.json: file not found"):
        count_pairs(store, ORIGIN, TARGET, "train")


MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    from timbre.tf.pairs import make_dataset
    n = 0
    for origin, target in make_dataset(
        sys.argv[1], "keyboard_acoustic", "string_acoustic", "train", 16, seed=1
    ):
        n += int(origin.shape[0])
    print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


def peak_memory_mb(folder: Path, n_pieces: int, tiles_per_piece: int) -> tuple[int, int]:
    config = SpectrogramConfig()  # the real 256 x 256 tiles, written straight away (no audio)

    def fill(instrument, piece, n_tiles):
        return np.full((n_tiles, config.n_bins, config.tile_frames), 0.25, np.float16)

    write_feature_store(
        folder,
        {f"p{i:03d}": (tiles_per_piece, "train") for i in range(n_pieces)},
        config,
        fill=fill,
    )
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        env={
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).parents[2]),
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    pairs, peak_mb = map(int, result.stdout.split()[-2:])
    return pairs, peak_mb


def test_peak_memory_does_not_grow_with_the_store(tmp_path):
    small_pairs, small_mb = peak_memory_mb(tmp_path / "small", 2, 100)
    large_pairs, large_mb = peak_memory_mb(tmp_path / "large", 20, 100)  # 2 x 256 MB of tiles
    shutil.rmtree(tmp_path)  # 512 MB
    assert (small_pairs, large_pairs) == (200, 2000)
    assert large_mb - small_mb < 100, (small_mb, large_mb)
