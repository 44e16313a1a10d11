"""timbre.data.augment: EQ tilt, room reverberation and noise on the origin part only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import sine, write_midi

from timbre.data import augment, notebank, recorded, render, sources
from timbre.errors import ConfigError
from timbre.settings import AugmentConfig

SR = 16000


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def test_draw_is_a_function_of_seed_and_name():
    config = AugmentConfig()
    first = augment.draw(config, "piece_0001", 3)
    assert first == augment.draw(config, "piece_0001", 3)
    others = {augment.draw(config, f"piece_{k:04d}", 3) for k in range(30)}
    assert len(others) == 30
    assert any(d.rt60_s is None for d in others) and any(d.rt60_s is not None for d in others)
    assert all(abs(d.tilt_db_per_octave) <= config.tilt_db_per_octave for d in others)
    assert augment.draw(AugmentConfig(noise=False), "p", 0).snr_db is None
    assert augment.draw(AugmentConfig(reverb_probability=0.0), "p", 0).rt60_s is None


@pytest.mark.parametrize("db_per_octave", [-3.0, 3.0])
def test_tilt_changes_each_octave_by_its_slope(db_per_octave):
    low, high = sine(250.0, 1.0, SR), sine(4000.0, 1.0, SR)
    tilted_low = augment.tilt(low, SR, db_per_octave)
    tilted_high = augment.tilt(high, SR, db_per_octave)
    assert _db(tilted_low) - _db(low) == pytest.approx(-2 * db_per_octave, abs=0.2)
    assert _db(tilted_high) - _db(high) == pytest.approx(2 * db_per_octave, abs=0.2)
    assert tilted_low.dtype == np.float32 and tilted_low.shape == low.shape


def test_reverberation_decays_by_60_db_over_rt60_and_keeps_the_direct_sound():
    click = np.zeros(SR, np.float32)
    click[100] = 1.0
    out = augment.reverberate(click, SR, 0.4, 0.5, np.random.default_rng(0))
    assert out.shape == click.shape and int(np.argmax(np.abs(out))) == 100
    early = _db(out[200 : 200 + 800])
    late = _db(out[100 + int(0.4 * SR) - 400 : 100 + int(0.4 * SR) + 400])
    assert early - late == pytest.approx(60.0, abs=8.0)


def test_noise_at_the_drawn_snr():
    tone = sine(440.0, 2.0, SR)
    piece = augment.Draw(0.0, None, 0.0, 40.0, noise_seed=7)
    out = augment.apply(tone, SR, piece)
    assert _db(tone) - _db(out - tone) == pytest.approx(40.0, abs=0.5)
    assert np.array_equal(out, augment.apply(tone, SR, piece))  # seeded


def test_the_recorded_chain_draws_recordings_of_its_own():
    config = AugmentConfig(chain="recorded")
    drawn = augment.draw(config, "piece_0001", 3)
    assert isinstance(drawn, recorded.Recording)
    assert drawn == augment.draw(config, "piece_0001", 3)
    # not the recording the "recorded" evaluation condition gives a piece of that name
    assert drawn != recorded.draw(recorded.DEFAULT_RECORDING, "piece_0001", 3)
    assert augment.to_dict(drawn) == drawn.to_dict()


def test_probability_is_the_share_of_pieces_augmented():
    names = [f"piece_{k:04d}" for k in range(200)]
    for chain in ("simple", "recorded"):
        half = [augment.draw(AugmentConfig(chain=chain, probability=0.5), n, 0) for n in names]
        assert 70 < sum(d is None for d in half) < 130
        assert all(
            augment.draw(AugmentConfig(chain=chain, probability=0.0), n, 0) is None
            for n in names[:20]
        )
    assert augment.to_dict(None) is None
    tone = sine(440.0, 0.5, SR)
    assert np.array_equal(augment.apply(tone, SR, None), tone)


def test_the_recorded_chain_plays_the_piece_through_timbre_data_recorded():
    pytest.importorskip("pyroomacoustics")
    pytest.importorskip("pedalboard")
    tone = sine(440.0, 1.0, SR)
    drawn = augment.draw(AugmentConfig(chain="recorded"), "p", 0)
    out = augment.apply(tone, SR, drawn)
    assert out.shape == tone.shape and out.dtype == np.float32
    assert np.array_equal(out, recorded.apply(tone, SR, drawn))
    assert not np.allclose(out, tone, atol=1e-3)


def test_augment_config_checks():
    assert AugmentConfig.from_dict(AugmentConfig().to_dict()) == AugmentConfig()
    with pytest.raises(ConfigError, match="rt60_s=\\(1.0, 0.5\\)"):
        AugmentConfig(rt60_s=(1.0, 0.5))
    with pytest.raises(ConfigError, match="reverb_probability=1.5"):
        AugmentConfig(reverb_probability=1.5)
    with pytest.raises(ConfigError, match="tilt_db_per_octave=20"):
        AugmentConfig(tilt_db_per_octave=20)
    with pytest.raises(ConfigError, match="chain='room' \\(expected one of simple, recorded\\)"):
        AugmentConfig(chain="room")
    with pytest.raises(ConfigError, match="probability=2"):
        AugmentConfig(probability=2)
    recorded_half = AugmentConfig(chain="recorded", probability=0.5)
    assert AugmentConfig.from_dict(recorded_half.to_dict()) == recorded_half


@pytest.mark.parametrize("chain", ["simple", "recorded"])
def test_render_augments_the_origin_of_training_pieces_only(tmp_path, chain):
    if chain == "recorded":
        pytest.importorskip("pyroomacoustics")
        pytest.importorskip("pedalboard")
    config = AugmentConfig(chain=chain, reverb_probability=1.0)
    pitches = (57, 60, 69)
    banks = notebank.prepare_soundfont_bank(
        tmp_path / "bank",
        ["keyboard_acoustic", "string_acoustic"],
        progress=False,
        pitches=pitches,
    )
    pool = sources.SourcePool("keyboard_acoustic", {"TimGM6mb:0": banks.banks["keyboard_acoustic"]})
    for k in range(3):
        write_midi(tmp_path / "midi" / f"p{k}.mid", [(0.0, 1.0, pitches[k], 90)])
    plain = render.render_pairs(
        tmp_path / "midi", tmp_path / "plain", banks, pools=[pool], jobs=1, progress=False
    )
    augmented = render.render_pairs(
        tmp_path / "midi",
        tmp_path / "aug",
        banks,
        pools=[pool],
        augment=config,
        jobs=1,
        progress=False,
    )
    manifest = json.loads(augmented.manifest.read_text())
    assert manifest["augment"] == config.to_dict()
    assert manifest["split"] == json.loads(plain.manifest.read_text())["split"]
    for piece in ("p0", "p1", "p2"):
        drawn = manifest["pieces"][piece]["augment"]
        training = manifest["pieces"][piece]["split"] == "train"
        assert (drawn is not None and drawn["rt60_s"] is not None) == training
        strings = [
            (tmp_path / f / "string_acoustic" / f"{piece}.wav").read_bytes()
            for f in ("plain", "aug")
        ]
        keys = [
            (tmp_path / f / "keyboard_acoustic" / f"{piece}.wav").read_bytes()
            for f in ("plain", "aug")
        ]
        assert strings[0] == strings[1] and (keys[0] != keys[1]) == training
    assert "augment" not in json.loads(plain.manifest.read_text())
