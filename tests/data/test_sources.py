"""timbre.data.sources: pools of sources per instrument, drawn per piece, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_midi, write_nsynth_folder

from timbre.data import notebank, render, sources
from timbre.errors import DatasetError, NoteBankError

PITCHES = (57, 60, 69)
CSOUND = Path(sources.DEBIAN_SOUNDFONTS[1][1])


@pytest.fixture(scope="module")
def two_soundfonts(tmp_path_factory):
    """The bundled SoundFont, and a copy of it under another name (a second, distinct source).

    Csound's bank is used instead when installed (``make`` installs it).
    """
    folder = tmp_path_factory.mktemp("soundfonts")
    if CSOUND.is_file():
        return [notebank.default_soundfont(), CSOUND]
    copy = folder / "OtherGM.sf2"
    copy.write_bytes(notebank.default_soundfont().read_bytes())
    return [notebank.default_soundfont(), copy]


@pytest.fixture(scope="module")
def pool(two_soundfonts, tmp_path_factory):
    cache = tmp_path_factory.mktemp("pool_cache")
    return sources.soundfont_pool(
        "keyboard_acoustic", two_soundfonts, cache, progress=False, pitches=PITCHES
    )


@pytest.fixture(scope="module")
def target_bank(tmp_path_factory):
    return notebank.prepare_soundfont_bank(
        tmp_path_factory.mktemp("target"),
        ["keyboard_acoustic", "string_acoustic"],
        progress=False,
        pitches=PITCHES,
    )


def _midi_folder(folder: Path, n: int) -> Path:
    for k in range(n):
        write_midi(folder / f"p{k:02d}.mid", [(0.0, 0.4, PITCHES[k % 3], 90), (0.4, 0.8, 60, 70)])
    return folder


def test_pool_has_both_piano_programs_of_each_soundfont(pool, two_soundfonts):
    stems = sorted(Path(s).stem for s in two_soundfonts)
    assert sorted(pool.sources) == sorted(f"{stem}:{p}" for stem in stems for p in (0, 1))
    assert {bank.instrument_str for bank in pool.sources.values()} == {
        "keyboard_acoustic_000",
        "keyboard_acoustic_001",
    }


def test_draw_depends_on_seed_and_name_only(pool):
    names = [f"piece_{k:04d}" for k in range(40)]
    first = [pool.draw(name, 3) for name in names]
    assert first == [pool.draw(name, 3) for name in names]
    assert first[::-1] == [pool.draw(name, 3) for name in reversed(names)]
    assert len(set(first)) == len(pool.sources)  # 40 draws reach all four sources
    assert first != [pool.draw(name, 4) for name in names]


def test_without_holds_a_source_out(pool):
    held = sorted(pool.sources)[0]
    kept = pool.without([held])
    assert held not in kept.sources and len(kept.sources) == len(pool.sources) - 1
    with pytest.raises(NoteBankError, match="unknown sources \\['nope:0'\\]"):
        pool.without(["nope:0"])
    with pytest.raises(NoteBankError, match="leaves no source"):
        pool.without(list(pool.sources))


def test_render_records_each_piece_source_and_one_target_source(tmp_path, pool, target_bank):
    midi = _midi_folder(tmp_path / "midi", 12)
    summary = render.render_pairs(
        midi, tmp_path / "a", target_bank, pools=[pool], jobs=1, seed=5, progress=False
    )
    manifest = json.loads(summary.manifest.read_text())
    assert manifest["pools"] == {"keyboard_acoustic": sorted(pool.sources)}
    drawn = {name: entry["sources"] for name, entry in manifest["pieces"].items()}
    assert len(drawn) == 12
    assert all(set(d) == {"keyboard_acoustic"} for d in drawn.values())  # the target: no pool
    assert drawn == {name: {"keyboard_acoustic": pool.draw(name, 5)} for name in drawn}
    assert len({d["keyboard_acoustic"] for d in drawn.values()}) > 1
    # The same draw again: a second folder gets byte-identical audio.
    render.render_pairs(
        midi, tmp_path / "b", target_bank, pools=[pool], jobs=2, seed=5, progress=False
    )
    for name in drawn:
        for instrument in ("keyboard_acoustic", "string_acoustic"):
            a = (tmp_path / "a" / instrument / f"{name}.wav").read_bytes()
            assert a == (tmp_path / "b" / instrument / f"{name}.wav").read_bytes()


def test_pieces_from_different_sources_sound_different(tmp_path, pool, target_bank):
    midi = _midi_folder(tmp_path / "midi", 1)
    outputs = {}
    for source, bank in pool.sources.items():
        one = sources.SourcePool("keyboard_acoustic", {source: bank})
        render.render_pairs(
            midi,
            tmp_path / source.replace(":", "_"),
            target_bank,
            pools=[one],
            jobs=1,
            progress=False,
        )
        outputs[source] = (
            tmp_path / source.replace(":", "_") / "keyboard_acoustic" / "p00.wav"
        ).read_bytes()
    assert len(set(outputs.values())) == len(outputs)


def test_resume_refuses_another_pool_or_seed(tmp_path, pool, target_bank):
    midi = _midi_folder(tmp_path / "midi", 2)
    render.render_pairs(
        midi, tmp_path / "a", target_bank, pools=[pool], jobs=1, seed=1, progress=False
    )
    with pytest.raises(DatasetError, match="seed of the source draws"):
        render.render_pairs(
            midi, tmp_path / "a", target_bank, pools=[pool], jobs=1, seed=2, progress=False
        )
    smaller = pool.without([sorted(pool.sources)[0]])
    with pytest.raises(DatasetError, match="source pools"):
        render.render_pairs(
            midi, tmp_path / "a", target_bank, pools=[smaller], jobs=1, seed=1, progress=False
        )


def test_pool_for_an_instrument_not_rendered_is_refused(tmp_path, pool, target_bank):
    strings = sources.SourcePool("guitar_acoustic", pool.sources)
    with pytest.raises(NoteBankError, match="pools for \\['guitar_acoustic'\\]"):
        render.render_pairs(
            _midi_folder(tmp_path / "m", 1),
            tmp_path / "a",
            target_bank,
            pools=[strings],
            progress=False,
        )


def test_nsynth_pool_takes_every_preset(tmp_path):
    folder = write_nsynth_folder(
        tmp_path / "ns",
        instruments=("keyboard_acoustic_000", "keyboard_acoustic_004", "string_acoustic_001"),
    )
    pool = sources.nsynth_pool(folder, "keyboard_acoustic")
    assert sorted(pool.sources) == ["nsynth:keyboard_acoustic_000", "nsynth:keyboard_acoustic_004"]
    with pytest.raises(NoteBankError, match="unknown instrument 'flute_acoustic'"):
        sources.nsynth_pool(folder, "flute_acoustic")


def test_default_soundfonts_and_programs(monkeypatch):
    assert sources.default_soundfonts()[0] == notebank.default_soundfont()
    assert sources.pool_programs("keyboard_acoustic") == (0, 1)
    assert sources.pool_programs("string_acoustic") == (48,)
    assert sources.pool_programs("keyboard_acoustic", {"keyboard_acoustic": 2}) == (2,)
    monkeypatch.setattr(sources, "DEBIAN_SOUNDFONTS", (("pkg-x", "/nowhere/x.sf2"),))
    assert sources.missing_soundfonts() == ["pkg-x"]
    assert sources.default_soundfonts() == [notebank.default_soundfont()]
