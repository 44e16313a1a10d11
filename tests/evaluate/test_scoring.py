"""timbre.evaluate (pairs, scoring, report) and evaluate.py: pairs, baselines, written results,
errors."""

import json
import math
import re

import numpy as np
import pytest
from helpers import identity_generator, write_features_manifest, write_model_dir

from timbre.errors import ConfigError, DatasetError, ModelError
from timbre.evaluate import metrics, scoring
from timbre.evaluate.config import EvalConfig
from timbre.evaluate.pairs import Pair, folder_pairs, load_pair, split_pairs
from timbre.evaluate.report import EvalResults, write_results
from timbre.io import audio
from timbre.settings import FeatureConfig, SpectrogramConfig

SR = 16000
SPEC = SpectrogramConfig(
    sample_rate=SR, n_fft=512, hop_length=128, n_bins=256, tile_frames=32
)  # 0-8 kHz
NOTES_HZ = (261.63, 329.63, 392.0, 523.25)


def melody(
    harmonics: dict[int, float], shift: float = 1.0, seconds_per_note: float = 0.4
) -> np.ndarray:
    """The same four notes (transposed by ``shift``) with a harmonic recipe (a timbre).

    The notes decay; 16 kHz.
    """
    t = np.arange(int(seconds_per_note * SR)) / SR
    envelope = np.exp(-4 * t) * np.minimum(1, t * 200)
    notes = [
        sum(gain * np.sin(2 * np.pi * k * f0 * shift * t) for k, gain in harmonics.items())
        * envelope
        for f0 in NOTES_HZ
    ]
    return (0.4 * np.concatenate(notes)).astype(np.float32)


SOFT_SAW = {k: 1 / k**2 for k in range(1, 9)}  # origin timbre: all harmonics, soft
SQUAREISH = {1: 1.0, 3: 1 / 3, 5: 1 / 5, 7: 1 / 7}  # target timbre: odd harmonics, brighter


class IdentityConverter:
    """Stand-in for timbre.convert.converter.Converter: returns its input.

    Its tiles are SPEC.tile_frames long.
    """

    def convert(self, audio_in: np.ndarray, sample_rate: int) -> np.ndarray:
        return np.asarray(audio_in, dtype=np.float32).copy()

    def tile_borders(self, n_frames: int) -> np.ndarray:
        from timbre.dsp import tiling

        return tiling.tile_borders(n_frames, SPEC.tile_frames)


def write_pair_folders(root, names=("a", "b", "c")):
    """audios/<instrument>/<piece>.wav: soft saw (origin) vs square-ish (target) melodies.

    1.6 s each.
    """
    for i, name in enumerate(names):
        for instrument, recipe in (("keyboard_acoustic", SOFT_SAW), ("string_acoustic", SQUAREISH)):
            audio.save(
                root / "audios" / instrument / f"{name}.wav", melody(recipe, 2 ** (i / 12)), SR
            )
    return root / "audios"


def features_for(root, audios, split=None):
    """``<root>/features``: a store manifest whose pieces (1 tile each) come from ``audios``."""
    split = split or {"train": ["a"], "val": [], "test": ["b", "c"]}
    pieces = {
        name: {"n_tiles": 1, "split": part, "seconds": 1.6}
        for part, names in split.items()
        for name in names
    }
    return write_features_manifest(
        root / "features",
        SPEC,
        pieces,
        audios_path=audios,
        features=FeatureConfig(overlap=0),
    )


def test_oracle_scores_at_least_as_well_as_identity():
    """Every metric; notes_kept through the real transcriber: the stand-in model, which returns
    its input, keeps every note of it."""
    from timbre.data.transcribe import Transcriber

    origin, target = melody(SOFT_SAW), melody(SQUAREISH)
    converters = {"model": IdentityConverter()}
    scores = scoring.score_piece(origin, target, converters, SPEC, 8000, Transcriber())
    assert list(scores) == ["identity", "model", "oracle"]
    identity, oracle = scores["identity"], scores["oracle"]
    for name in metrics.LOWER_IS_BETTER:
        assert oracle[name] < identity[name], (name, oracle[name], identity[name])
    assert oracle["chroma_cos"] >= identity["chroma_cos"]
    assert oracle["sc"] < 0.1 * identity["sc"]  # the origin has every harmonic the target needs
    assert scores["model"] == identity  # the stand-in returns the origin itself
    assert identity["notes_kept"] == 1.0 and 0.0 <= oracle["notes_kept"] <= 1.0
    assert np.isfinite(oracle["seam_ratio"]) and np.isfinite(identity["seam_ratio"])


class DroppingConverter(IdentityConverter):
    """Returns its input with the second half silenced: the notes there are lost."""

    def convert(self, audio_in: np.ndarray, sample_rate: int) -> np.ndarray:
        out = super().convert(audio_in, sample_rate)
        out[len(out) // 2 :] *= 1e-4
        return out


def test_notes_kept_sees_a_conversion_that_drops_notes():
    from timbre.data.transcribe import Transcriber

    origin = melody(SOFT_SAW)
    converters = {"model": DroppingConverter()}
    scores = scoring.score_piece(origin, origin, converters, SPEC, 8000, Transcriber())
    assert scores["identity"]["notes_kept"] == 1.0
    assert scores["model"]["notes_kept"] < 0.8
    assert np.isnan(
        scoring.score_piece(origin, origin, converters, SPEC, 8000)["model"]["notes_kept"]
    )


def test_oracle_of_identical_timbres_reconstructs_the_target():
    target = melody(SQUAREISH)
    rebuilt = scoring.oracle(target, target, SPEC)
    assert rebuilt.shape == target.shape and rebuilt.dtype == np.float32
    assert metrics.log_spectral_distance(rebuilt, target, SR) < 1.0


def test_gap_closed_by_hand():
    mean = {
        "identity": {
            "lsd_db": 10.0,
            "sc": 0.8,
            "flatness_ratio": 4.0,
            "logmel_l1_db": 4.0,
            "loudness_l1_db": 3.0,
            "chroma_cos": 0.6,
            "notes_kept": 1.0,
            "seam_ratio": 1.0,
        },
        "model": {
            "lsd_db": 6.0,
            "sc": 0.8,
            "flatness_ratio": 2.0,
            "logmel_l1_db": 5.0,
            "loudness_l1_db": 1.0,
            "chroma_cos": 0.8,
            "notes_kept": 0.9,
            "seam_ratio": 1.1,
        },
        "oracle": {
            "lsd_db": 2.0,
            "sc": 0.4,
            "flatness_ratio": 1.0,
            "logmel_l1_db": 2.0,
            "loudness_l1_db": 3.0,
            "chroma_cos": 1.0,
            "notes_kept": 0.8,
            "seam_ratio": 1.0,
        },
    }
    gaps = scoring.gap_closed(mean)["model"]
    assert gaps["lsd_db"] == pytest.approx(0.5)  # (10 - 6) / (10 - 2)
    assert gaps["sc"] == pytest.approx(0.0)  # no better than identity
    assert gaps["logmel_l1_db"] == pytest.approx(-0.5)  # worse than identity
    assert gaps["chroma_cos"] == pytest.approx(0.5)  # similarity: (0.6 - 0.8) / (0.6 - 1.0)
    assert np.isnan(gaps["notes_kept"])  # identity keeps every note: no gap
    assert gaps["flatness_ratio"] == pytest.approx(0.5)  # (|ln 4| - |ln 2|) / (|ln 4| - |ln 1|)
    mean["model"]["flatness_ratio"] = 0.5  # as far too sparse as 2x is too flat
    assert scoring.gap_closed(mean)["model"]["flatness_ratio"] == pytest.approx(0.5)
    mean["model"]["flatness_ratio"] = 8.0  # hazier than the input
    assert scoring.gap_closed(mean)["model"]["flatness_ratio"] == pytest.approx(-0.5)
    mean["identity"]["flatness_ratio"] = 1.05  # the input is about as flat as the target
    assert math.isnan(scoring.gap_closed(mean)["model"]["flatness_ratio"])  # no gap to close
    mean["identity"]["flatness_ratio"] = 4.0
    gaps = scoring.gap_closed(mean)["model"]
    assert math.isnan(gaps["loudness_l1_db"])  # identity == oracle: no gap to close
    assert math.isnan(gaps["seam_ratio"])
    mean["oracle"]["lsd_db"], mean["oracle"]["chroma_cos"] = 11.0, 0.5  # oracle worse than identity
    gaps = scoring.gap_closed(mean)["model"]
    assert math.isnan(gaps["lsd_db"]) and math.isnan(
        gaps["chroma_cos"]
    )  # no gap, not a misleading share


def test_evaluate_pairs_and_written_outputs(tmp_path):
    audios = write_pair_folders(tmp_path)
    pairs = folder_pairs(audios / "keyboard_acoustic", audios / "string_acoustic")
    assert [p.name for p in pairs] == ["a", "b", "c"]
    results = scoring.evaluate_pairs(
        pairs, {"model": IdentityConverter()}, SPEC, EvalConfig(max_seconds=1.0), progress=False
    )
    assert results.settings["n_pieces"] == 3 and results.settings["seconds"] == pytest.approx(3.0)
    assert results.settings["max_hz_used"] == 8000
    for metric in metrics.METRICS:
        values = [results.pieces[p]["identity"][metric] for p in "abc"]
        expected = (
            np.exp(np.mean(np.log(values))) if metric == "flatness_ratio" else np.mean(values)
        )
        assert results.mean["identity"][metric] == pytest.approx(expected)
    assert results.gap_closed["model"]["lsd_db"] == pytest.approx(
        0.0
    )  # identity stand-in closes nothing

    paths = write_results(results, tmp_path / "eval")
    saved = json.loads(paths["json"].read_text())
    assert saved["mean"]["oracle"]["lsd_db"] == pytest.approx(results.mean["oracle"]["lsd_db"])
    assert saved["pieces"]["b"]["model"]["chroma_cos"] == pytest.approx(
        results.pieces["b"]["model"]["chroma_cos"]
    )
    assert saved["gap_closed"]["model"]["seam_ratio"] is None  # NaN written as JSON null
    rows = paths["csv"].read_text().splitlines()
    assert rows[0] == "piece,system," + ",".join(metrics.METRICS)
    assert len(rows) == 1 + 3 * 3 and rows[1].startswith("a,identity,")
    table = paths["markdown"].read_text()
    assert "| oracle |" in table and "| gap closed: model |" in table and "0.0 %" in table
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_condition_plays_the_input_through_a_recording(tmp_path):
    audios = write_pair_folders(tmp_path, names=("a", "b"))
    pairs = folder_pairs(audios / "keyboard_acoustic", audios / "string_acoustic")
    converters = {"model": IdentityConverter()}
    clean, recorded = (
        scoring.evaluate_pairs(pairs, converters, SPEC, EvalConfig(condition=c), progress=False)
        for c in ("clean", "recorded")
    )
    assert set(recorded.settings["recordings"]) == {"a", "b"}  # what each piece got
    assert recorded.settings["recordings"]["a"] != recorded.settings["recordings"]["b"]
    assert recorded.settings["recording"]["rt60_s"] == EvalConfig().recording.rt60_s
    assert "recordings" not in clean.settings
    # the recorded input is hazier and further from the target than the clean one
    identity = {name: r.mean["identity"] for name, r in (("clean", clean), ("rec", recorded))}
    assert identity["rec"]["flatness_ratio"] > 1.5 * identity["clean"]["flatness_ratio"]
    assert identity["rec"]["sc"] > identity["clean"]["sc"]
    assert recorded.pieces["a"]["oracle"]["lsd_db"] < identity["rec"]["lsd_db"]
    paths = write_results(recorded, tmp_path / "eval")
    table = paths["markdown"].read_text()
    assert table.startswith("Condition: recorded (each piece's input through a simulated room")
    assert "flatness_ratio ≈1" in table.splitlines()[2] and "pyroomacoustics" in table
    saved = json.loads(paths["json"].read_text())
    assert saved["settings"]["recordings"]["b"]["snr_db"] == pytest.approx(
        recorded.settings["recordings"]["b"]["snr_db"]
    )


def test_split_pairs_reads_the_test_split(tmp_path):
    audios = write_pair_folders(tmp_path)
    features = features_for(tmp_path, audios)
    pairs = split_pairs(features, "keyboard_acoustic", "string_acoustic")
    assert pairs == [
        Pair("b", audios / "keyboard_acoustic" / "b.wav", audios / "string_acoustic" / "b.wav"),
        Pair("c", audios / "keyboard_acoustic" / "c.wav", audios / "string_acoustic" / "c.wav"),
    ]
    assert len(split_pairs(features, "keyboard_acoustic", "string_acoustic", max_pieces=1)) == 1


def test_split_pairs_errors(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"features: .* not found \(expected the folder compute_features.py wrote\)",
    ):
        split_pairs(tmp_path / "nowhere", "keyboard_acoustic", "string_acoustic")
    audios = write_pair_folders(tmp_path)
    features = features_for(tmp_path, audios)
    with pytest.raises(
        DatasetError,
        match=r"no instrument 'guitar_acoustic', the model's target \(features hold "
        r"\['keyboard_acoustic', 'string_acoustic'\]",
    ):
        split_pairs(features, "keyboard_acoustic", "guitar_acoustic")
    features_for(tmp_path, audios, split={"train": ["a", "b"], "val": ["c"], "test": []})
    with pytest.raises(
        DatasetError, match=r"the test split is empty \(train 2, val 1, test 0 pieces\)"
    ):
        split_pairs(features, "keyboard_acoustic", "string_acoustic")
    features_for(tmp_path, audios, split={"train": ["a"], "val": [], "test": ["b", "zz"]})
    with pytest.raises(
        DatasetError, match=r"2 audio files of the test pieces are missing \(e.g. .*zz.wav\)"
    ):
        split_pairs(features, "keyboard_acoustic", "string_acoustic")
    features_for(tmp_path, tmp_path / "gone")
    with pytest.raises(DatasetError, match=r"audios_path .*gone not found"):
        split_pairs(features, "keyboard_acoustic", "string_acoustic")


def test_folder_pairs_errors(tmp_path):
    audios = write_pair_folders(tmp_path)
    with pytest.raises(
        DatasetError, match=r"origin_dir: .*missing not found \(expected a folder of audio files\)"
    ):
        folder_pairs(tmp_path / "missing", audios / "string_acoustic")
    (tmp_path / "other").mkdir()
    audio.save(tmp_path / "other" / "z.wav", melody(SOFT_SAW), SR)
    with pytest.raises(DatasetError, match="share no audio file name"):
        folder_pairs(audios / "keyboard_acoustic", tmp_path / "other")
    audio.save(tmp_path / "other" / "a.wav", melody(SOFT_SAW), SR)
    with pytest.warns(
        UserWarning,
        match=r"3 audio files have no partner of the same name and are skipped \(e.g. b",
    ):
        kept = folder_pairs(tmp_path / "other", audios / "string_acoustic")
    assert [p.name for p in kept] == ["a"]


def test_load_pair_trims_unequal_lengths(tmp_path):
    audio.save(tmp_path / "o.wav", np.ones(1000, np.float32) * 0.1, SR)
    audio.save(tmp_path / "t.wav", np.ones(900, np.float32) * 0.1, SR)
    with pytest.warns(UserWarning, match="origin has 1000 samples, target 900"):
        origin, target = load_pair(Pair("x", tmp_path / "o.wav", tmp_path / "t.wav"), SR)
    assert len(origin) == len(target) == 900


def test_model_info_needs_origin_and_target(tmp_path):
    with pytest.raises(ModelError, match=r"nothing: not found \(expected a model directory"):
        scoring.model_info(tmp_path / "nothing")  # read_model_info's errors reach here
    anonymous = write_model_dir(tmp_path / "anonymous", SPEC, origin=None, target=None)
    with pytest.raises(ModelError, match=r"config.json lacks \['origin', 'target'\]"):
        scoring.model_info(anonymous)
    info = scoring.model_info(write_model_dir(tmp_path / "model", SPEC))
    assert (info.origin, info.target, info.spectrogram) == (
        "keyboard_acoustic",
        "string_acoustic",
        SPEC,
    )


def test_evaluate_needs_exactly_one_source(tmp_path):
    with pytest.raises(
        ConfigError, match="give either features_path or both origin_dir and target_dir"
    ):
        scoring.evaluate(tmp_path, progress=False)
    with pytest.raises(
        ConfigError, match="give either features_path or both origin_dir and target_dir"
    ):
        scoring.evaluate(tmp_path, origin_dir=tmp_path, progress=False)
    with pytest.raises(
        ConfigError, match="give either features_path or both origin_dir and target_dir"
    ):
        scoring.evaluate(tmp_path, features_path=tmp_path, origin_dir=tmp_path, target_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"phase": "magic"},
            r"phase='magic' \(expected one of \['both', 'griffinlim', 'input'\]\)",
        ),
        ({"iterations": 0}, "iterations=0 must be a positive integer"),
        ({"batch_size": -1}, "batch_size=-1 must be a positive integer"),
        ({"max_pieces": 0}, "max_pieces=0 must be a positive integer"),
        ({"max_hz": 0.0}, "max_hz=0.0 must be positive"),
        ({"max_seconds": -2.0}, "max_seconds=-2.0 must be positive"),
    ],
)
def test_eval_config_checks_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**kwargs)


def test_evaluate_pairs_needs_pairs_and_converters():
    with pytest.raises(ConfigError, match="pairs: none given"):
        scoring.evaluate_pairs([], {"model": IdentityConverter()}, SPEC)
    with pytest.raises(ConfigError, match="converters: none given"):
        scoring.evaluate_pairs([Pair("a", "o", "t")], {}, SPEC)


def test_results_to_dict_has_no_nan():
    results = EvalResults(
        pieces={}, mean={"model": {"sc": float("nan")}}, gap_closed={}, settings={}
    )
    assert results.to_dict()["mean"]["model"]["sc"] is None


# --- End to end: evaluate.py in-process with tiny Keras models saved in tmp_path.

MODEL_SPEC = SpectrogramConfig(
    sample_rate=SR, n_fft=256, hop_length=128, n_bins=64, tile_frames=32
)  # 0-4 kHz


def save_model(folder, generator, target="string_acoustic"):
    return write_model_dir(folder, MODEL_SPEC, generator, target=target)


def test_evaluate_cli_end_to_end_with_a_tiny_generator(tmp_path, capsys):
    from timbre.cli.evaluate import main
    from timbre.settings import ModelConfig
    from timbre.tf.networks import build_generator

    audios = write_pair_folders(tmp_path)
    features = features_for(tmp_path, audios)
    generator = build_generator(
        ModelConfig(base_filters=4, depth=5), MODEL_SPEC.n_bins, MODEL_SPEC.tile_frames
    )
    model = save_model(tmp_path / "model", generator)
    status = main(
        [
            "--model",
            str(model),
            "--features",
            str(features),
            "--phase",
            "both",
            "--iterations",
            "2",
            "--max_seconds",
            "1.0",
            "--no_progress",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    for row in (
        "| identity |",
        "| model |",
        "| model_griffinlim |",
        "| oracle |",
        "| gap closed: model |",
        "| gap closed: model_griffinlim |",
    ):
        assert row in printed
    eval_dir = model / "eval"
    saved = json.loads((eval_dir / "results.json").read_text())
    assert set(saved["pieces"]) == {"b", "c"}  # the test split only
    assert list(saved["mean"]) == ["identity", "model", "model_griffinlim", "oracle"]
    for system, values in saved["mean"].items():
        assert set(values) == set(metrics.METRICS)
        assert all(np.isfinite(values[m]) for m in metrics.METRICS if m != "seam_ratio"), system
    assert (
        saved["settings"]["phase"] == "both"
        and saved["settings"]["max_hz_used"] == MODEL_SPEC.max_hz
    )
    assert (
        saved["settings"]["seconds"] == pytest.approx(2.0)
        and saved["settings"]["target"] == "string_acoustic"
    )
    identity, oracle = saved["mean"]["identity"]["lsd_db"], saved["mean"]["oracle"]["lsd_db"]
    expected_gap = (identity - saved["mean"]["model"]["lsd_db"]) / (identity - oracle)
    assert saved["gap_closed"]["model"]["lsd_db"] == pytest.approx(expected_gap)
    assert len((eval_dir / "results.csv").read_text().splitlines()) == 1 + 2 * 4
    assert (eval_dir / "results.md").read_text() in printed
    assert (eval_dir / "eval.png").read_bytes()[:4] == b"\x89PNG"


def test_identity_generator_scores_like_the_identity_baseline(tmp_path):
    audios = write_pair_folders(tmp_path, names=("a",))
    model = save_model(tmp_path / "model", identity_generator(MODEL_SPEC))
    results, paths = scoring.evaluate(
        model / "generator.keras",
        origin_dir=audios / "keyboard_acoustic",
        target_dir=audios / "string_acoustic",
        output_dir=tmp_path / "out",
        progress=False,
    )
    assert paths["json"] == tmp_path / "out" / "results.json" and paths["json"].is_file()
    identity, model_scores = results.mean["identity"], results.mean["model"]
    assert model_scores["lsd_db"] == pytest.approx(identity["lsd_db"], abs=0.5)
    assert model_scores["chroma_cos"] == pytest.approx(identity["chroma_cos"], abs=0.02)
    assert abs(results.gap_closed["model"]["lsd_db"]) < 0.3
    # No seams added: the output jumps at tile borders as much as the origin itself does.
    assert model_scores["seam_ratio"] == pytest.approx(identity["seam_ratio"], rel=0.1)


def test_evaluate_cli_errors(tmp_path, capsys):
    from timbre.cli.evaluate import main

    audios = write_pair_folders(tmp_path, names=("a", "b"))
    features = features_for(tmp_path, audios, split={"train": ["a"], "val": ["c"], "test": ["b"]})
    model = save_model(tmp_path / "model", identity_generator(MODEL_SPEC), target="guitar_acoustic")
    cases = [
        (
            ["--model", str(tmp_path / "none"), "--features", str(features)],
            r"--model .*none: not found",
        ),
        (
            ["--model", str(model), "--features", str(tmp_path / "nofeatures")],
            r"--features .*nofeatures: folder not found",
        ),
        (
            ["--model", str(model), "--origin_dir", str(audios)],
            "--origin_dir and --target_dir go together",
        ),
        (
            [
                "--model",
                str(model),
                "--origin_dir",
                str(tmp_path / "x"),
                "--target_dir",
                str(audios),
            ],
            r"--origin_dir .*x: folder not found",
        ),
        (
            ["--model", str(model), "--features", str(features)],
            r"no instrument 'guitar_acoustic', the model's target",
        ),
    ]
    for argv, message in cases:
        assert main([*argv, "--no_progress"]) == 1
        assert re.search(message, capsys.readouterr().err), argv
    assert not (model / "eval").exists()


def test_headline_table_gives_lsd_sc_and_flatness_per_set_and_condition():
    from timbre.evaluate.report import headline_table

    results = {
        "mean": {"model": {"flatness_ratio": 3.9}},
        "gap_closed": {"model": {"lsd_db": 0.73, "sc": 0.14, "flatness_ratio": None}},
    }
    table = headline_table([("real pianos", "recorded", results)]).splitlines()
    assert table[0].startswith("| test pieces | condition | LSD gap closed | SC gap closed |")
    assert table[2] == "| real pianos | recorded | 73.0 % | 14.0 % | 3.900x | n/a |"
