"""What every command does with bad input: a failure catalogue, after librosa's test_failures.py.

Each case runs one command's ``main`` in-process on tiny inputs made in tmp folders and checks
the whole contract of a failure: the exit status, one ``error:`` (or ``failed:``, or
``warning:``) line naming the file, no traceback, and no partial output (no named output file,
no temporary file anywhere). A full disk is simulated by making the lowest write raise
``OSError(ENOSPC)``; a concurrent run by holding the output folder's run lock.

The readers of untrusted files (audio, MIDI, the two manifests, a model's config.json) are
then fuzzed with hypothesis: random bytes and odd but valid arrays and JSON. The only
exceptions that may escape are timbre's own (``TimbreError``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from helpers import SMALL_SPEC, identity_generator, sine, write_audio_folder, write_midi
from helpers import write_model_dir as make_model_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from timbre.cli import (
    adapt,
    evaluate,
    export,
    features,
    predict,
    synthesize,
    train,
    train_generator,
)
from timbre.cli import web as web_cli
from timbre.data import midi
from timbre.errors import TimbreError
from timbre.formats import audio_folder, feature_store, model_dir
from timbre.formats.model_dir import read_model_info
from timbre.io import audio
from timbre.io.atomic import run_lock

KEYS, STRINGS = "keyboard_acoustic", "string_acoustic"
NO_SPACE = "no space left on device; free some space and rerun"


@dataclasses.dataclass(frozen=True)
class World:
    """Good inputs for every command, made once per module (cases copy what they break)."""

    root: Path
    midi: Path  # a folder with one small MIDI file, song.mid
    nsynth: Path  # a tiny NSynth folder
    audios: Path  # paired audio: pieces a (train), b (val), c (test), 1 s at 16 kHz
    spec: Path  # SMALL_SPEC as a JSON file
    features: Path  # the tiles of audios, SMALL_SPEC, --keep_silent
    model: Path  # an identity generator for SMALL_SPEC
    recording: Path  # a 1 s sine to convert


@pytest.fixture(scope="module")
def world(tmp_path_factory, nsynth_folder) -> World:
    root = tmp_path_factory.mktemp("world")
    write_midi(root / "midi" / "song.mid", [(0.0, 0.5, 60, 90), (0.5, 1.0, 64, 80)])
    pieces = {"a": (1.0, "train"), "b": (1.0, "val"), "c": (1.0, "test")}
    audios = write_audio_folder(root / "audios", pieces)
    spec = root / "spec.json"
    SMALL_SPEC.save(spec)
    argv = ["--audios_path", str(audios), "--features_path", str(root / "features")]
    argv += ["--spectrogram_config", str(spec), "--keep_silent", "--quiet"]
    assert features.main(argv) == 0
    model = make_model_dir(root / "model", SMALL_SPEC, identity_generator(SMALL_SPEC))
    recording = root / "in.wav"
    sf.write(recording, sine(440.0, 1.0, 16000), 16000)
    return World(
        root, root / "midi", nsynth_folder, audios, spec, root / "features", model, recording
    )


@dataclasses.dataclass
class Call:
    """One command line and what it must end in."""

    main: Callable
    argv: list[str]
    status: int  # 2: argparse refuses the command line
    pattern: str  # in the message line (a file name, usually); "re:..." is a regular expression
    kind: str = "error"  # the line's prefix: "error", "failed" (one item of a run) or "warning"
    absent: tuple[Path, ...] = ()  # outputs that must not exist afterwards
    intact: tuple[Path, ...] = ()  # inputs whose bytes must be unchanged afterwards


# --- Command lines ------------------------------------------------------------------------------


def synth(w: World, out: Path, *extra: str, midi_path: Path | None = None) -> list[str]:
    return [
        "--audios_path", str(out), "--midi_path", str(midi_path or w.midi), "--nsynth_path",
        str(w.nsynth), "--instruments", f"{KEYS},{STRINGS}", "--pool", "none", "--jobs", "1",
        "--quiet", *extra,
    ]  # fmt: skip


def feats(w: World, out: Path, *extra: str, audios: Path | None = None) -> list[str]:
    return [
        "--audios_path", str(audios or w.audios), "--features_path", str(out),
        "--spectrogram_config", str(w.spec), "--jobs", "1", "--quiet", *extra,
    ]  # fmt: skip


def fit(w: World, out: Path, *extra: str, data: Path | None = None) -> list[str]:
    return [
        "--dataset_path", str(data or w.features), "--origin", KEYS, "--target", STRINGS,
        "--model_dir", str(out), "--epochs", "1", "--steps_per_epoch", "1", "--batch_size", "2",
        "--base_filters", "4", "--depth", "5", "--quiet", *extra,
    ]  # fmt: skip


def conv(w: World, out: Path, *extra: str, source: Path | None = None, model=None) -> list[str]:
    return [
        "--model", str(model or w.model), "--input", str(source or w.recording), "--output",
        str(out), *extra,
    ]  # fmt: skip


def score(w: World, out: Path, *extra: str, model: Path | None = None) -> list[str]:
    return [
        "--model", str(model or w.model), "--features", str(w.features), "--output", str(out),
        "--max_seconds", "0.5", "--quiet", *extra,
    ]  # fmt: skip


# --- Small makers of bad inputs -----------------------------------------------------------------


def copy(source: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(source, tmp / source.name, symlinks=True))


def a_file(tmp: Path, name: str = "file.txt") -> Path:
    path = tmp / name
    path.write_text("a regular file")
    return path


def edit_json(path: Path, change: Callable[[dict], object]) -> Path:
    data = json.loads(path.read_text())
    result = change(data)
    path.write_text(json.dumps(data if result is None else result))
    return path


def wav(path: Path, samples, rate: int = 16000, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(samples, dtype=np.float32), rate, subtype=subtype)
    return path


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


HELD = contextlib.ExitStack()  # run locks held "by another run" until the test ends


@pytest.fixture(autouse=True)
def _release_locks():
    yield
    HELD.close()


def hold_lock(folder: Path, mp) -> None:
    """Hold ``folder``'s run lock, as another live run would, until the test ends."""
    HELD.enter_context(run_lock(folder, "another run"))


# --- The catalogue ------------------------------------------------------------------------------

CASES: dict[str, Callable] = {}


def case(name: str):
    def register(build: Callable) -> Callable:
        assert name not in CASES, name
        CASES[name] = build
        return build

    return register


# synthesize_audios.py


@case("synth: --midi_path missing")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=tmp / "nowhere"),
        1,
        "nowhere: folder not found",
        absent=(tmp / "out",),
    )


@case("synth: no MIDI files in the folder")
def _(w, tmp, mp):
    (tmp / "empty").mkdir()
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=tmp / "empty"),
        1,
        "empty: no MIDI files",
        absent=(tmp / "out",),
    )


@case("synth: a truncated MIDI file is skipped")
def _(w, tmp, mp):
    folder = copy(w.midi, tmp)
    (folder / "cut.mid").write_bytes((w.midi / "song.mid").read_bytes()[:30])
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=folder),
        1,
        "cut.mid: not a readable MIDI file",
        kind="failed",
        absent=(tmp / "out" / KEYS / "cut.wav",),
    )


@case("synth: random bytes as MIDI are skipped")
def _(w, tmp, mp):
    folder = copy(w.midi, tmp)
    (folder / "noise.mid").write_bytes(np.random.default_rng(0).bytes(300))
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=folder),
        1,
        "noise.mid: not a readable MIDI file",
        kind="failed",
        absent=(tmp / "out" / KEYS / "noise.wav",),
    )


@case("synth: a MIDI file of drums only is skipped")
def _(w, tmp, mp):
    folder = copy(w.midi, tmp)
    write_midi(folder / "drums.mid", [], drums=[(0.0, 0.5, 36, 100)])
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=folder),
        1,
        "drums.mid: no notes",
        kind="failed",
        absent=(tmp / "out" / KEYS / "drums.wav",),
    )


def coarse_midi(path: Path, notes) -> Path:
    """A MIDI file at 1 tick per second (pretty_midi refuses files past 1e7 ticks)."""
    import pretty_midi

    score = pretty_midi.PrettyMIDI(resolution=1, initial_tempo=60.0)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in notes]
    score.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.write(str(path))
    return path


@case("synth: a note at 1e6 s is refused, not an out-of-memory crash")
def _(w, tmp, mp):
    coarse_midi(tmp / "m" / "late.mid", [(0.0, 1.0, 60, 90), (1e6, 1e6 + 1.0, 62, 90)])
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=tmp / "m"),
        1,
        "re:late.mid: would last 1e\\+06 s once rendered .*expected at most 3600 s",
        kind="failed",
        absent=(tmp / "out" / KEYS / "late.wav",),
    )


@case("synth: --duration_rate 90 on a long note is refused per piece")
def _(w, tmp, mp):
    write_midi(tmp / "m" / "long.mid", [(0.0, 60.0, 60, 90)])
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--duration_rate", "90", midi_path=tmp / "m"),
        1,
        "long.mid: would last 5400.05 s once rendered",
        kind="failed",
        absent=(tmp / "out" / KEYS / "long.wav",),
    )


@case("synth: --playback_speed 1e-6 is refused up front")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--playback_speed", "1e-6"),
        1,
        "--playback_speed 1e-06: out of range (expected 0.01 to 100",
        absent=(tmp / "out",),
    )


@case("synth: --augment without a pooled instrument")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--augment", "recorded"),
        1,
        "--augment: applies to the pooled instruments (expected --pool to name one of",
        absent=(tmp / "out",),
    )


@case("synth: --augment_share 1.5")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--augment", "simple", "--augment_share", "1.5"),
        1,
        "--augment_share 1.5: expected 0 to 1",
        absent=(tmp / "out",),
    )


@case("synth: --augment_share without --augment")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--augment_share", "0.5"),
        1,
        "--augment_share: applies with --augment",
        absent=(tmp / "out",),
    )


@case("synth: --playback_speed 0")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--playback_speed", "0"),
        1,
        "playback_speed=0.0 must be a positive number",
        absent=(tmp / "out",),
    )


@case("synth: --duration_rate 1e9")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--duration_rate", "1e9"),
        1,
        "--duration_rate 1e+09: out of range",
        absent=(tmp / "out",),
    )


@case("synth: --max_seconds 0")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--max_seconds", "0"),
        1,
        "max_seconds=0.0 must be a positive number",
        absent=(tmp / "out",),
    )


@case("synth: --transpose 100")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--transpose", "100"),
        1,
        "transpose=100",
        absent=(tmp / "out",),
    )


@case("synth: overlapping notes of one pitch warn that the piece is shorter")
def _(w, tmp, mp):
    write_midi(tmp / "m" / "overlap.mid", [(0.0, 3.0, 60, 90), (1.0, 1.5, 60, 90)])
    return Call(
        synthesize.main,
        synth(w, tmp / "out", midi_path=tmp / "m"),
        0,
        "overlap.mid: 1 note(s) struck again while still held (first: pitch 60 at 1.00 s); "
        "each stops at the next strike, so the notes end at 1.50 s though the file's last "
        "note-off is at 3.00 s",
        kind="warning",
    )


@case("synth: --nsynth_path missing")
def _(w, tmp, mp):
    argv = synth(w, tmp / "out")
    argv[argv.index("--nsynth_path") + 1] = str(tmp / "nsynth")
    return Call(synthesize.main, argv, 1, "nsynth", absent=(tmp / "out",))


@case("synth: an unknown instrument")
def _(w, tmp, mp):
    argv = synth(w, tmp / "out")
    argv[argv.index("--instruments") + 1] = f"{KEYS},strings_acoustic"
    return Call(synthesize.main, argv, 1, "strings_acoustic", absent=(tmp / "out",))


@case("synth: --program with --nsynth_path")
def _(w, tmp, mp):
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--program", f"{KEYS}=3"),
        1,
        "--program: applies to SoundFont banks only",
        absent=(tmp / "out",),
    )


@case("synth: --audios_path is a file")
def _(w, tmp, mp):
    return Call(synthesize.main, synth(w, a_file(tmp)), 1, "file.txt")


@case("synth: --audios_path under a file")
def _(w, tmp, mp):
    return Call(synthesize.main, synth(w, a_file(tmp) / "out"), 1, "file.txt/out")


@case("synth: a full disk")
def _(w, tmp, mp):
    mp.setattr(sf.SoundFile, "write", no_space)
    return Call(
        synthesize.main,
        synth(w, tmp / "out"),
        1,
        f"{tmp / 'out' / KEYS / 'song.wav'}: cannot write audio ({NO_SPACE})",
        absent=(tmp / "out" / KEYS / "song.wav",),
    )


@case("synth: another run holds the folder")
def _(w, tmp, mp):
    hold_lock(tmp / "out", mp)
    return Call(
        synthesize.main,
        synth(w, tmp / "out"),
        1,
        "out: in use by another timbre run (PID",
        absent=(tmp / "out" / KEYS,),
    )


@case("synth: the folder holds audio rendered with other settings")
def _(w, tmp, mp):
    assert synthesize.main(synth(w, tmp / "out")) == 0
    return Call(
        synthesize.main,
        synth(w, tmp / "out", "--transpose", "2"),
        1,
        "holds audio rendered with other settings (synth differ)",
    )


@case("synth: an old manifest that is not an object")
def _(w, tmp, mp):
    (tmp / "out").mkdir()
    (tmp / "out" / "manifest.json").write_text("[1, 2]")
    return Call(
        synthesize.main,
        synth(w, tmp / "out"),
        1,
        "manifest.json: not a manifest",
        absent=(tmp / "out" / KEYS,),
    )


@case("synth: an instrument folder that is a symlink out of the audio folder")
def _(w, tmp, mp):
    (tmp / "out").mkdir()
    (tmp / "elsewhere").mkdir()
    (tmp / "out" / KEYS).symlink_to(tmp / "elsewhere")
    return Call(
        synthesize.main,
        synth(w, tmp / "out"),
        1,
        "outside",
        absent=(tmp / "elsewhere" / "song.wav",),
    )


# compute_features.py


@case("features: --audios_path missing")
def _(w, tmp, mp):
    return Call(
        features.main,
        feats(w, tmp / "out", audios=tmp / "none"),
        1,
        "none: folder not found",
        absent=(tmp / "out",),
    )


@case("features: no manifest.json in the audio folder")
def _(w, tmp, mp):
    (tmp / "audios").mkdir()
    return Call(
        features.main,
        feats(w, tmp / "out", audios=tmp / "audios"),
        1,
        "audios: no manifest.json and no instrument folders of .wav files",
        absent=(tmp / "out",),
    )


@case("features: manifest.json is not JSON")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    (audios / "manifest.json").write_text("{not json")
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "manifest.json: not valid JSON",
        absent=(tmp / "out",),
    )


def _audio_manifest_case(name: str, change: Callable[[dict], object], pattern: str) -> None:
    @case(f"features: audio manifest {name}")
    def _(w, tmp, mp):
        audios = copy(w.audios, tmp)
        edit_json(audios / "manifest.json", change)
        return Call(
            features.main, feats(w, tmp / "out", audios=audios), 1, pattern, absent=(tmp / "out",)
        )


def _rename_piece(data: dict, new: str) -> None:
    data["pieces"][new] = data["pieces"].pop("a")


_audio_manifest_case(
    "piece ../../outside/x",
    lambda d: _rename_piece(d, "../../outside/x"),
    "piece name '../../outside/x' is not a plain file name",
)
_audio_manifest_case(
    "absolute piece name",
    lambda d: _rename_piece(d, "/tmp/x"),
    "piece name '/tmp/x' is not a plain file name",
)
_audio_manifest_case(
    "instrument ../strings",
    lambda d: d["instruments"].__setitem__(1, "../s"),
    "instrument name '../s' is not a plain file name",
)
_audio_manifest_case("without pieces", lambda d: d.pop("pieces"), "no 'pieces' and 'instruments'")
_audio_manifest_case(
    "a piece entry that is a number",
    lambda d: d["pieces"].__setitem__("a", 3),
    "piece 'a': entry 3",
)
_audio_manifest_case(
    "seconds NaN",
    lambda d: d["pieces"]["a"].__setitem__("seconds", "NaN"),
    "seconds='NaN' is not a duration",
)
_audio_manifest_case(
    "a midi entry naming /etc/passwd",
    lambda d: d["pieces"]["a"].__setitem__("midi", "/etc/passwd"),
    "midi='/etc/passwd' does not name a .mid/.midi file",
)
_audio_manifest_case(
    "split that is a list",
    lambda d: d.__setitem__("split", ["a"]),
    "'split' is not an object of piece lists",
)
_audio_manifest_case(
    "a piece in two splits", lambda d: d["split"]["val"].append("a"), "piece 'a' is in splits"
)
_audio_manifest_case(
    "an unknown split name",
    lambda d: d.__setitem__("split", {"train": ["b"], "dev": ["a"], "test": ["c"]}),
    "unknown split names ['dev']",
)


@case("features: an audio instrument folder that is a symlink out of the folder")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    shutil.move(audios / KEYS, tmp / "elsewhere")
    (audios / KEYS).symlink_to(tmp / "elsewhere")
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        f"{KEYS} resolves to {tmp.resolve() / 'elsewhere'}, outside",
        absent=(tmp / "out" / KEYS,),
    )


@case("features: a tile folder that is a symlink out of the features folder")
def _(w, tmp, mp):
    (tmp / "out").mkdir()
    (tmp / "elsewhere").mkdir()
    (tmp / "out" / KEYS).symlink_to(tmp / "elsewhere")
    return Call(
        features.main, feats(w, tmp / "out"), 1, "outside", absent=(tmp / "elsewhere" / "a.npy",)
    )


@case("features: a WAV file that is a symlink out of the audio folder")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    shutil.move(audios / KEYS / "a.wav", tmp / "a.wav")
    (audios / KEYS / "a.wav").symlink_to(tmp / "a.wav")
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "outside",
        kind="failed",
        absent=(tmp / "out" / KEYS / "a.npy",),
    )


@case("features: an unknown --instruments name")
def _(w, tmp, mp):
    return Call(
        features.main,
        feats(w, tmp / "out", "--instruments", "string_acustic"),
        1,
        "re:unknown instrument 'string_acustic'.*did you mean 'string_acoustic'",
        absent=(tmp / "out",),
    )


@case("features: an instrument twice")
def _(w, tmp, mp):
    return Call(
        features.main,
        feats(w, tmp / "out", "--instruments", f"{KEYS},{KEYS}"),
        1,
        "lists an instrument twice",
        absent=(tmp / "out",),
    )


@case("features: --overlap as large as a tile")
def _(w, tmp, mp):
    return Call(
        features.main,
        feats(w, tmp / "out", "--overlap", "32"),
        1,
        "overlap=32 (expected 0 to tile_frames - 1 = 31)",
        absent=(tmp / "out",),
    )


@case("features: --spectrogram_config missing")
def _(w, tmp, mp):
    argv = feats(w, tmp / "out")
    argv[argv.index("--spectrogram_config") + 1] = str(tmp / "spec.json")
    return Call(features.main, argv, 1, "spec.json: file not found", absent=(tmp / "out",))


@case("features: --spectrogram_config with a bad value")
def _(w, tmp, mp):
    argv = feats(w, tmp / "out")
    bad = edit_json(Path(shutil.copy(w.spec, tmp / "spec.json")), lambda d: {**d, "n_fft": -1})
    argv[argv.index("--spectrogram_config") + 1] = str(bad)
    return Call(
        features.main, argv, 1, "n_fft=-1 must be a positive integer", absent=(tmp / "out",)
    )


@case("features: the folder holds tiles made with other settings")
def _(w, tmp, mp):
    out = copy(w.features, tmp)
    return Call(
        features.main,
        feats(w, out, "--overlap", "4"),
        1,
        "holds tiles made with other settings: overlap=0 (requested 4)",
    )


@case("features: an unreadable WAV fails its piece")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    (audios / KEYS / "b.wav").write_bytes(b"RIFF not really")
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "b.wav: not a readable audio file",
        kind="failed",
        absent=(tmp / "out" / KEYS / "b.npy",),
    )


@case("features: a WAV with NaN samples fails its piece")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    wav(audios / STRINGS / "b.wav", np.full(16000, np.nan), subtype="FLOAT")
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "b.wav: 16000 non-finite samples",
        kind="failed",
        absent=(tmp / "out" / STRINGS / "b.npy",),
    )


@case("features: a missing WAV fails its piece")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    (audios / KEYS / "c.wav").unlink()
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "c.wav: file not found",
        kind="failed",
        absent=(tmp / "out" / KEYS / "c.npy",),
    )


@case("features: instruments of different lengths fail their piece")
def _(w, tmp, mp):
    audios = copy(w.audios, tmp)
    wav(audios / KEYS / "a.wav", sine(300.0, 0.5, 16000))
    return Call(
        features.main,
        feats(w, tmp / "out", audios=audios),
        1,
        "piece 'a': audio lengths differ",
        kind="failed",
        absent=(tmp / "out" / KEYS / "a.npy",),
    )


@case("features: non-finite tiles are never written")
def _(w, tmp, mp):
    from timbre.dsp import stft

    real = stft.log_spectrogram
    mp.setattr(
        stft,
        "log_spectrogram",
        lambda *a, **k: (np.full_like(real(*a, **k)[0], np.nan), None),
    )
    return Call(
        features.main,
        feats(w, tmp / "out"),
        1,
        "a.wav: its spectrogram holds non-finite values",
        kind="failed",
        absent=(tmp / "out" / KEYS / "a.npy",),
    )


@case("features: a full disk")
def _(w, tmp, mp):
    mp.setattr(np, "save", no_space)
    return Call(
        features.main,
        feats(w, tmp / "out"),
        1,
        f"{tmp / 'out' / KEYS / 'a.npy'}: {NO_SPACE}",
        absent=(tmp / "out" / KEYS / "a.npy",),
    )


@case("features: --features_path is a file")
def _(w, tmp, mp):
    return Call(features.main, feats(w, a_file(tmp)), 1, "file.txt")


@case("features: --features_path under a file")
def _(w, tmp, mp):
    return Call(features.main, feats(w, a_file(tmp) / "out"), 1, "file.txt/out")


@case("features: another run holds the folder")
def _(w, tmp, mp):
    hold_lock(tmp / "out", mp)
    return Call(
        features.main,
        feats(w, tmp / "out"),
        1,
        "out: in use by another timbre run (PID",
        absent=(tmp / "out" / KEYS,),
    )


@case("features: --jobs 0")
def _(w, tmp, mp):
    return Call(
        features.main,
        feats(w, tmp / "out", "--jobs", "0"),
        2,
        "--jobs: 0 is not a positive integer",
        absent=(tmp / "out",),
    )


# train.py / train_generator.py


@case("train: --dataset_path without a manifest")
def _(w, tmp, mp):
    (tmp / "features").mkdir()
    return Call(
        train.main,
        fit(w, tmp / "model", data=tmp / "features"),
        1,
        "features: no manifest.json",
        absent=(tmp / "model",),
    )


@case("train: origin and target alike")
def _(w, tmp, mp):
    argv = fit(w, tmp / "model")
    argv[argv.index("--target") + 1] = KEYS
    return Call(
        train.main, argv, 1, "origin and target: both 'keyboard_acoustic'", absent=(tmp / "model",)
    )


@case("train: an instrument the features lack")
def _(w, tmp, mp):
    argv = fit(w, tmp / "model")
    argv[argv.index("--target") + 1] = "string_acustic"
    return Call(train.main, argv, 1, "did you mean 'string_acoustic'", absent=(tmp / "model",))


@case("train: --batch_size larger than the training pairs")
def _(w, tmp, mp):
    argv = fit(w, tmp / "model")
    argv[argv.index("--batch_size") + 1] = "64"
    return Call(train.main, argv, 1, "batch_size=64: larger than the", absent=(tmp / "model",))


@case("train: --init_from a shipped model of another architecture")
def _(w, tmp, mp):
    argv = [*fit(w, tmp / "model"), "--init_from", "keyboard"]  # a shipped model's name
    return Call(train.main, argv, 1, "(another architecture: use the source's model settings)")


@case("train: --depth too deep for the tiles")
def _(w, tmp, mp):
    argv = fit(w, tmp / "model")
    argv[argv.index("--depth") + 1] = "6"
    return Call(train.main, argv, 1, "2**depth=64", absent=(tmp / "model",))


@case("train: --validation_split 1.5")
def _(w, tmp, mp):
    return Call(
        train.main,
        fit(w, tmp / "model", "--validation_split", "1.5"),
        2,
        "--validation_split: 1.5 is not in",
        absent=(tmp / "model",),
    )


@case("train: --gpu 3 on a machine without it")
def _(w, tmp, mp):
    return Call(
        train.main,
        fit(w, tmp / "model", "--gpu", "3"),
        1,
        "gpu=3: this machine has",
        absent=(tmp / "model",),
    )


@case("train: --config missing")
def _(w, tmp, mp):
    return Call(
        train.main,
        ["--config", str(tmp / "config.json"), "--quiet"],
        1,
        "config.json: file not found",
        absent=(tmp / "model",),
    )


@case("train: --config of the other mode")
def _(w, tmp, mp):
    config = tmp / "config.json"
    config.write_text(json.dumps({"mode": "gan", "train": {}}))
    return Call(
        train_generator.main,
        ["--config", str(config), "--quiet"],
        1,
        "a 'gan' run (expected 'generator'); use train.py",
    )


@case("train: --config whose features_path is a list")
def _(w, tmp, mp):
    config = tmp / "config.json"
    config.write_text(json.dumps({"mode": "gan", "features_path": ["x"], "train": {}}))
    return Call(train.main, ["--config", str(config), "--quiet"], 1,
                "features_path=['x'] (expected a folder path)")  # fmt: skip


@case("train: --config with a setting of the wrong type")
def _(w, tmp, mp):
    config = tmp / "config.json"
    saved = {"mode": "gan", "features_path": str(w.features), "origin": KEYS, "target": STRINGS,
             "model": {"base_filters": 4, "depth": 5}, "train": {"gen_lr": "fast"}}  # fmt: skip
    config.write_text(json.dumps(saved))
    return Call(train.main, ["--config", str(config), "--model_dir", str(tmp / "m"), "--quiet"],
                1, "config.json: TrainConfig: gen_lr='fast' must be > 0",
                absent=(tmp / "m",))  # fmt: skip


@case("train: --config with an unknown top-level key lists the valid ones")
def _(w, tmp, mp):
    config = tmp / "config.json"
    saved = {"mode": "gan", "features_path": str(w.features), "origin": KEYS, "target": STRINGS,
             "train": {}, "epochz": 3}  # fmt: skip
    config.write_text(json.dumps(saved))
    return Call(train.main, ["--config", str(config), "--model_dir", str(tmp / "m"), "--quiet"],
                1, "config.json: unknown keys ['epochz'] (expected some of version, mode",
                absent=(tmp / "m",))  # fmt: skip


@case("train: --config with an unknown key inside 'spectrogram' lists the valid ones")
def _(w, tmp, mp):
    config = tmp / "config.json"
    saved = {"mode": "gan", "features_path": str(w.features), "origin": KEYS, "target": STRINGS,
             "spectrogram": {"n_fft": 256, "hop": 128}, "train": {}}  # fmt: skip
    config.write_text(json.dumps(saved))
    return Call(train.main, ["--config", str(config), "--model_dir", str(tmp / "m"), "--quiet"],
                1, "config.json: unknown SpectrogramConfig keys ['hop'] (expected some of",
                absent=(tmp / "m",))  # fmt: skip


@case("train: --config with an unknown key inside 'model' lists the valid ones")
def _(w, tmp, mp):
    config = tmp / "config.json"
    saved = {"mode": "gan", "features_path": str(w.features), "origin": KEYS, "target": STRINGS,
             "model": {"base_filterz": 4}, "train": {}}  # fmt: skip
    config.write_text(json.dumps(saved))
    return Call(train.main, ["--config", str(config), "--model_dir", str(tmp / "m"), "--quiet"],
                1, "unknown ModelConfig keys ['base_filterz'] (expected some of",
                absent=(tmp / "m",))  # fmt: skip


@case("train: a features manifest naming a piece ../../x")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    edit_json(data / "manifest.json", lambda d: d["pieces"].__setitem__("../../x", {"n_tiles": 1}))
    return Call(
        train.main,
        fit(w, tmp / "model", data=data),
        1,
        "piece name '../../x' is not a plain file name",
        absent=(tmp / "model",),
    )


@case("train: a features manifest whose split is a string")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    edit_json(data / "manifest.json", lambda d: d.__setitem__("split", "train"))
    return Call(
        train.main,
        fit(w, tmp / "model", data=data),
        1,
        "'split' is not an object of piece lists",
        absent=(tmp / "model",),
    )


@case("train: a tile folder that is a symlink out of the features")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    shutil.move(data / KEYS, tmp / "elsewhere")
    (data / KEYS).symlink_to(tmp / "elsewhere")
    return Call(train.main, fit(w, tmp / "model", data=data), 1, "outside", absent=(tmp / "model",))


@case("train: a truncated tile file")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    tiles = data / STRINGS / "a.npy"
    tiles.write_bytes(tiles.read_bytes()[:200])
    return Call(
        train.main,
        fit(w, tmp / "model", data=data),
        1,
        "a.npy: truncated or corrupt tile file",
        absent=(tmp / "model",),
    )


@case("train: non-finite peaks in the features manifest")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    edit_json(
        data / "manifest.json",
        lambda d: d["pieces"]["a"]["peak_db"][KEYS].__setitem__(0, float("nan")),
    )
    return Call(
        train.main,
        fit(w, tmp / "model", data=data),
        1,
        "piece 'a': non-finite tile peaks",
        absent=(tmp / "model",),
    )


@case("train: NaN tiles stop at the first non-finite loss, naming the file")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    tiles = np.load(data / KEYS / "a.npy")
    tiles[:, 3, 4:] = np.nan
    np.save(data / KEYS / "a.npy", tiles)
    return Call(
        train_generator.main,
        fit(w, tmp / "model", data=data),
        1,
        f"re:non-finite loss .*{data / KEYS / 'a.npy'} holds NaN or inf",
        absent=(tmp / "model" / "config.json", tmp / "model" / "generator.keras"),
    )


@case("train: --model_dir holds another run")
def _(w, tmp, mp):
    make_model_dir(tmp / "model", SMALL_SPEC)
    return Call(
        train.main,
        fit(w, tmp / "model"),
        1,
        "re:holds a training run already .* pass --resume to continue it or --force",
    )


@case("train: --epoch_offset that is not the last epoch")
def _(w, tmp, mp):
    return Call(
        train.main,
        fit(w, tmp / "model", "--epoch_offset", "3"),
        1,
        "epoch_offset=3: the last completed epoch",
        absent=(tmp / "model" / "config.json",),
    )


@case("train: --model_dir is a file")
def _(w, tmp, mp):
    return Call(train.main, fit(w, a_file(tmp)), 1, "file.txt")


@case("train: --model_dir under a file")
def _(w, tmp, mp):
    return Call(train.main, fit(w, a_file(tmp) / "model"), 1, "file.txt/model")


@case("train: a full disk")
def _(w, tmp, mp):
    mp.setattr(np.lib.format, "write_array", no_space)  # the checkpoint's arrays
    return Call(
        train_generator.main,
        fit(w, tmp / "model"),
        1,
        f"model: {NO_SPACE}",
        absent=(tmp / "model" / "config.json", tmp / "model" / "checkpoints"),
    )


@case("train: another run holds the model directory")
def _(w, tmp, mp):
    hold_lock(tmp / "model", mp)
    return Call(
        train.main,
        fit(w, tmp / "model"),
        1,
        "model: in use by another timbre run (PID",
        absent=(tmp / "model" / "config.json",),
    )


@case("train: --findlr while another run holds the model directory")
def _(w, tmp, mp):
    hold_lock(tmp / "model", mp)
    return Call(
        train.main,
        fit(w, tmp / "model", "--findlr"),
        1,
        "model: in use by another timbre run (PID",
        absent=(tmp / "model" / "lr_finder.csv",),
    )


# predict.py


@case("predict: --input missing")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=tmp / "gone.wav"),
        1,
        "gone.wav: input not found",
        absent=(tmp / "out.wav",),
    )


@case("predict: a folder without audio files")
def _(w, tmp, mp):
    (tmp / "in").mkdir()
    (tmp / "in" / "notes.txt").write_text("no audio")
    return Call(
        predict.main,
        conv(w, tmp / "out", source=tmp / "in"),
        1,
        "in: no audio files",
        absent=(tmp / "out",),
    )


@case("predict: --output is the input folder")
def _(w, tmp, mp):
    wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000))
    return Call(
        predict.main,
        conv(w, tmp / "in", source=tmp / "in"),
        1,
        "re:--output .*in: is the input folder",
        absent=(tmp / "in" / "a.png",),
    )


@case("predict: --output holds the input folder")
def _(w, tmp, mp):
    wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000))
    return Call(
        predict.main,
        conv(w, tmp, source=tmp / "in"),
        1,
        "contains the input folder",
        absent=(tmp / "a.wav",),
    )


@case("predict: a folder's output that is a file")
def _(w, tmp, mp):
    wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000))
    return Call(
        predict.main,
        conv(w, a_file(tmp), source=tmp / "in"),
        1,
        "file.txt: is a file (expected a folder",
    )


@case("predict: an output whose folder is under a file")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, a_file(tmp) / "sub" / "out.wav"),
        1,
        "file.txt/sub: cannot create the output folder",
    )


@case("predict: random bytes as input")
def _(w, tmp, mp):
    (tmp / "noise.wav").write_bytes(np.random.default_rng(1).bytes(500))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=tmp / "noise.wav"),
        1,
        "noise.wav: not a readable audio file",
        absent=(tmp / "out.wav",),
    )


@case("predict: one bad file in a folder is skipped, the others converted")
def _(w, tmp, mp):
    wav(tmp / "in" / "good.wav", sine(440.0, 0.5, 16000))
    (tmp / "in" / "bad.flac").write_bytes(b"fLaC and nothing else")
    return Call(
        predict.main,
        conv(w, tmp / "out", source=tmp / "in"),
        1,
        "bad.flac: not a readable audio file",
        absent=(tmp / "out" / "bad.wav",),
    )


@case("predict: a truncated WAV converts what is there, with a warning")
def _(w, tmp, mp):
    full = wav(tmp / "full.wav", sine(440.0, 3.0, 16000), subtype="PCM_16")
    (tmp / "cut.wav").write_bytes(full.read_bytes()[: 44 + 32000])
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=tmp / "cut.wav"),
        0,
        "cut.wav: truncated: the header promises 3.00 s, the file holds 1.00 s",
        kind="warning",
    )


@case("predict: a header promising 10^9 frames of float32 warns (4e9 bytes claimed)")
def _(w, tmp, mp):
    source = wav(tmp / "huge.wav", sine(440.0, 1.0, 16000), subtype="FLOAT")
    data = bytearray(source.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = (4 * 10**9).to_bytes(4, "little")
    source.write_bytes(bytes(data))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=source),
        0,
        "huge.wav: truncated: the header promises 62500.00 s, the file holds 1.00 s",
        kind="warning",
    )


@case("predict: silent input warns")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "o.wav", source=wav(tmp / "s.wav", np.zeros(8000))),
        0,
        "s.wav: audio is silent",
        kind="warning",
    )


@case("predict: NaN samples")
def _(w, tmp, mp):
    source = wav(tmp / "nan.wav", np.full(8000, np.nan), subtype="FLOAT")
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=source),
        1,
        "nan.wav: non-finite samples",
        absent=(tmp / "out.wav",),
    )


@case("predict: an empty WAV")
def _(w, tmp, mp):
    source = wav(tmp / "empty.wav", np.zeros(0))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=source),
        1,
        "empty.wav: zero-length audio",
        absent=(tmp / "out.wav",),
    )


@case("predict: an existing output without --force")
def _(w, tmp, mp):
    a_file(tmp, "out.wav")
    return Call(
        predict.main,
        conv(w, tmp / "out.wav"),
        1,
        "out.wav: already exists; use --force to overwrite",
    )


@case("predict: an unknown output format")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.xyz"),
        1,
        "out.xyz: unknown audio format",
        absent=(tmp / "out.xyz",),
    )


@case("predict: --sample_rate 1")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", "--sample_rate", "1"),
        2,
        "--sample_rate: 1 Hz (expected 8000 to 192000 Hz)",
        absent=(tmp / "out.wav",),
    )


@case("predict: --sample_rate 100000000")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", "--sample_rate", "100000000"),
        2,
        "--sample_rate: 100000000 Hz",
        absent=(tmp / "out.wav",),
    )


@case("predict: --iterations -1")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", "--iterations", "-1"),
        2,
        "--iterations: -1 is negative",
        absent=(tmp / "out.wav",),
    )


@case("predict: --overlap as large as a tile")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", "--overlap", "32"),
        1,
        "overlap=32",
        absent=(tmp / "out.wav",),
    )


@case("predict: --model missing")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=tmp / "none"),
        1,
        "none: not found",
        absent=(tmp / "out.wav",),
    )


@case("predict: a model directory without generator.keras")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    (model / "generator.keras").unlink()
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "generator.keras missing",
        absent=(tmp / "out.wav",),
    )


@case("predict: a truncated generator.keras, without Keras' 'File not found'")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    data = (model / "generator.keras").read_bytes()
    (model / "generator.keras").write_bytes(data[: len(data) // 2])
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "generator.keras: corrupt or truncated model file",
        absent=(tmp / "out.wav",),
    )


@case("predict: a generator.keras of random bytes")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    (model / "generator.keras").write_bytes(np.random.default_rng(2).bytes(4000))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "generator.keras: corrupt or truncated model file",
        absent=(tmp / "out.wav",),
    )


@case("predict: a generator.keras whose weights are damaged")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    data = bytearray((model / "generator.keras").read_bytes())
    with zipfile.ZipFile(model / "generator.keras") as archive:
        info = archive.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + 100
    data[start : start + 50] = bytes(50)
    (model / "generator.keras").write_bytes(bytes(data))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "generator.keras: corrupt or truncated model file: damaged",
        absent=(tmp / "out.wav",),
    )


@case("predict: config.json is not JSON")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    (model / "config.json").write_text("{")
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "config.json: not valid JSON",
        absent=(tmp / "out.wav",),
    )


@case("predict: config.json without spectrogram settings")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    edit_json(model / "config.json", lambda d: d.pop("spectrogram"))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "config.json: no 'spectrogram' settings",
        absent=(tmp / "out.wav",),
    )


@case("predict: a model trained for other tiles")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    edit_json(model / "config.json", lambda d: d["spectrogram"].__setitem__("n_bins", 64))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=model),
        1,
        "generator.keras: input/output shapes",
        absent=(tmp / "out.wav",),
    )


@case("predict: a full disk")
def _(w, tmp, mp):
    mp.setattr(sf.SoundFile, "write", no_space)
    return Call(
        predict.main,
        conv(w, tmp / "out.wav"),
        1,
        f"out.wav: cannot write audio ({NO_SPACE})",
        absent=(tmp / "out.wav",),
    )


@case("predict: a full disk stops a folder at its first file")
def _(w, tmp, mp):
    for name in ("a", "b"):
        wav(tmp / "in" / f"{name}.wav", sine(440.0, 0.5, 16000))
    mp.setattr(sf.SoundFile, "write", no_space)
    return Call(
        predict.main,
        conv(w, tmp / "out", source=tmp / "in"),
        1,
        f"a.wav: cannot write audio ({NO_SPACE})",
        absent=(tmp / "out" / "a.wav", tmp / "out" / "b.wav"),
    )


@case("predict: another run holds the output folder")
def _(w, tmp, mp):
    hold_lock(tmp / "out", mp)
    return Call(
        predict.main,
        conv(w, tmp / "out" / "x.wav"),
        1,
        "out: in use by another timbre run (PID",
        absent=(tmp / "out" / "x.wav",),
    )


# evaluate.py


@case("evaluate: --model missing")
def _(w, tmp, mp):
    return Call(
        evaluate.main,
        score(w, tmp / "out", model=tmp / "none"),
        1,
        "re:--model .*none: not found",
        absent=(tmp / "out",),
    )


@case("evaluate: --origin_dir without --target_dir")
def _(w, tmp, mp):
    argv = ["--model", str(w.model), "--origin_dir", str(w.audios / KEYS), "--quiet"]
    return Call(evaluate.main, argv, 1, "--origin_dir and --target_dir go together")


@case("evaluate: --features missing")
def _(w, tmp, mp):
    argv = score(w, tmp / "out")
    argv[argv.index("--features") + 1] = str(tmp / "none")
    return Call(
        evaluate.main, argv, 1, "re:--features .*none: folder not found", absent=(tmp / "out",)
    )


@case("evaluate: --output is a file, refused before any work")
def _(w, tmp, mp):
    mp.setattr("timbre.evaluate.scoring.evaluate", no_space)  # never reached
    return Call(evaluate.main, score(w, a_file(tmp)), 1, "re:output folder .*file.txt: is a file")


@case("evaluate: --output under a file, refused before any work")
def _(w, tmp, mp):
    mp.setattr("timbre.evaluate.scoring.evaluate", no_space)  # never reached
    return Call(
        evaluate.main,
        score(w, a_file(tmp) / "out"),
        1,
        "re:output folder .*file.txt/out: cannot be made: .*file.txt is a file",
    )


@case("evaluate: a corrupt generator.keras")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    (model / "generator.keras").write_bytes(b"PK not a zip")
    return Call(
        evaluate.main,
        score(w, tmp / "out", model=model),
        1,
        "generator.keras: corrupt or truncated model file",
        absent=(tmp / "out",),
    )


@case("evaluate: features whose audio folder is gone")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    edit_json(data / "manifest.json", lambda d: d.__setitem__("audios_path", str(tmp / "gone")))
    argv = score(w, tmp / "out")
    argv[argv.index("--features") + 1] = str(data)
    return Call(evaluate.main, argv, 1, "gone", absent=(tmp / "out",))


@case("evaluate: a features manifest whose audios_path is a number")
def _(w, tmp, mp):
    data = copy(w.features, tmp)
    edit_json(data / "manifest.json", lambda d: d.__setitem__("audios_path", 5))
    argv = score(w, tmp / "out")
    argv[argv.index("--features") + 1] = str(data)
    return Call(evaluate.main, argv, 1, "audios_path=5 is not a folder path", absent=(tmp / "out",))


@case("evaluate: a test piece's audio that is a symlink out of the audio folder")
def _(w, tmp, mp):
    data, audios = copy(w.features, tmp / "f"), copy(w.audios, tmp / "a")
    edit_json(data / "manifest.json", lambda d: d.__setitem__("audios_path", str(audios)))
    shutil.move(audios / STRINGS / "c.wav", tmp / "c.wav")
    (audios / STRINGS / "c.wav").symlink_to(tmp / "c.wav")
    argv = score(w, tmp / "out")
    argv[argv.index("--features") + 1] = str(data)
    return Call(evaluate.main, argv, 1, "re:c.wav resolves to .*, outside", absent=(tmp / "out",))


@case("evaluate: origin and target folders with different files")
def _(w, tmp, mp):
    wav(tmp / "o" / "x.wav", sine(300.0, 0.5, 16000))
    wav(tmp / "t" / "y.wav", sine(300.0, 0.5, 16000))
    argv = ["--model", str(w.model), "--origin_dir", str(tmp / "o"), "--target_dir",
            str(tmp / "t"), "--output", str(tmp / "out"), "--quiet"]  # fmt: skip
    return Call(evaluate.main, argv, 1, "share no audio file name", absent=(tmp / "out",))


# #29: never write over an input, never open a pipe; #24: a folder into a file name


def _own_input(tmp: Path) -> Path:
    return wav(tmp / "x.wav", sine(440.0, 0.5, 16000), subtype="PCM_16")


@case("predict: --output is the input, with --force")
def _(w, tmp, mp):
    source = _own_input(tmp)
    return Call(
        predict.main,
        conv(w, source, "--force", source=source),
        1,
        "x.wav: is the same file as the input",
        intact=(source,),
    )


@case("predict: --output is the input without --force, and says --force will not do")
def _(w, tmp, mp):
    source = _own_input(tmp)
    return Call(
        predict.main, conv(w, source, source=source), 1, "even with --force", intact=(source,)
    )


@case("predict: --output ./x.wav for --input x.wav")
def _(w, tmp, mp):
    source = _own_input(tmp)
    mp.chdir(tmp)
    argv = conv(w, Path("./x.wav"), "--force", source=source)
    argv[argv.index("--output") + 1] = "./x.wav"
    return Call(predict.main, argv, 1, "is the same file as the input", intact=(source,))


@case("predict: --output is a symbolic link to the input")
def _(w, tmp, mp):
    source = _own_input(tmp)
    (tmp / "link.wav").symlink_to(source)
    return Call(
        predict.main,
        conv(w, tmp / "link.wav", "--force", source=source),
        1,
        "link.wav: is the same file as the input",
        intact=(source,),
    )


@case("predict: --output is a hard link to the input")
def _(w, tmp, mp):
    source = _own_input(tmp)
    (tmp / "hard.wav").hardlink_to(source)
    return Call(
        predict.main,
        conv(w, tmp / "hard.wav", "--force", source=source),
        1,
        "hard.wav: is the same file as the input",
        intact=(source,),
    )


@case("predict: a folder's output that is a hard link to one of its inputs")
def _(w, tmp, mp):
    source = wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000), subtype="PCM_16")
    (tmp / "out").mkdir()
    (tmp / "out" / "a.wav").hardlink_to(source)
    return Call(
        predict.main,
        conv(w, tmp / "out", "--force", source=tmp / "in"),
        1,
        "out/a.wav: is the same file as the input",
        intact=(source,),
    )


@case("predict: a named pipe as --input is refused at once, not read forever")
def _(w, tmp, mp):
    os.mkfifo(tmp / "pipe.wav")
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", source=tmp / "pipe.wav"),
        1,
        "pipe.wav: is a named pipe (FIFO), not a regular file",
        absent=(tmp / "out.wav",),
    )


@case("predict: a named pipe in a folder is skipped with one line")
def _(w, tmp, mp):
    wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000))
    os.mkfifo(tmp / "in" / "pipe.wav")
    return Call(
        predict.main,
        conv(w, tmp / "out", "--quiet", source=tmp / "in"),
        0,
        "pipe.wav: is a named pipe (FIFO), not a regular file; skipped",
        kind="warning",
        absent=(tmp / "out" / "pipe.wav",),
    )


@case("predict: a folder input with a file name as --output")
def _(w, tmp, mp):
    wav(tmp / "in" / "a.wav", sine(440.0, 0.5, 16000))
    return Call(
        predict.main,
        conv(w, tmp / "single.wav", source=tmp / "in"),
        1,
        "single.wav: a file name, but the input",
        absent=(tmp / "single.wav",),
    )


@case("predict: a full disk reported by libsndfile as 'System error.'")
def _(w, tmp, mp):
    def system_error(*args, **kwargs):
        raise RuntimeError("System error.")  # libsndfile's words for a failed flush

    mp.setattr(sf.SoundFile, "write", system_error)
    mp.setattr(os, "statvfs", lambda path: SimpleNamespace(f_bavail=0, f_frsize=4096))
    return Call(
        predict.main,
        conv(w, tmp / "out.wav"),
        1,
        f"out.wav: cannot write audio ({NO_SPACE})",
        absent=(tmp / "out.wav",),
    )


# timbre export, and the model checks every command shares


def exp(w: World, out: Path | None, fmt: str = "onnx", *extra: str, model=None) -> list[str]:
    argv = ["--model", str(model or w.model), "--format", fmt, "--quiet", *extra]
    return argv + (["--output", str(out)] if out is not None else [])


def code_model(w: World, tmp: Path) -> Path:
    """A copy of the model whose generator.keras carries a Lambda layer (code)."""
    import keras

    model = copy(w.model, tmp)
    inputs = keras.Input((SMALL_SPEC.n_bins, SMALL_SPEC.tile_frames, 1))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(
        model / "generator.keras"
    )
    return model


def truncated_model(w: World, tmp: Path) -> Path:
    model = copy(w.model, tmp)
    keras_file = model / "generator.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:-300])
    return model


@case("export: a truncated generator.keras is called corrupt, not 'not found'")
def _(w, tmp, mp):
    model = truncated_model(w, tmp)
    return Call(
        export.main,
        exp(w, tmp / "out.onnx", model=model),
        1,
        "generator.keras: corrupt or truncated model file",
        absent=(tmp / "out.onnx",),
    )


@case("export: a model carrying code is refused in one line")
def _(w, tmp, mp):
    return Call(
        export.main,
        exp(w, tmp / "out.onnx", model=code_model(w, tmp)),
        1,
        "generator.keras: refused: the model carries Python code (a Lambda layer)",
        absent=(tmp / "out.onnx",),
    )


@case("predict: a model carrying code is refused in one line")
def _(w, tmp, mp):
    return Call(
        predict.main,
        conv(w, tmp / "out.wav", model=code_model(w, tmp)),
        1,
        "generator.keras: refused: the model carries Python code (a Lambda layer)",
        absent=(tmp / "out.wav",),
    )


@case("export: generator_onnx onto a shipped model")
def _(w, tmp, mp):
    return Call(
        export.main,
        exp(w, None, "generator_onnx", model="keyboard"),
        1,
        "--model keyboard: a shipped model, which has its generator.onnx already",
    )


@case("export: a misspelt shipped model's name, as predict says it")
def _(w, tmp, mp):
    return Call(
        export.main,
        exp(w, tmp / "out.onnx", model="keybord"),
        1,
        "no shipped model of that name (shipped: keyboard); did you mean",
        absent=(tmp / "out.onnx",),
    )


@case("evaluate: a misspelt shipped model's name, as predict says it")
def _(w, tmp, mp):
    return Call(
        evaluate.main,
        score(w, tmp / "out", model="keybord"),
        1,
        "no shipped model of that name (shipped: keyboard); did you mean",
        absent=(tmp / "out",),
    )


@case("export: another run holds the output's folder")
def _(w, tmp, mp):
    hold_lock(tmp / "dest", mp)
    return Call(
        export.main,
        exp(w, tmp / "dest" / "out.onnx"),
        1,
        "dest: in use by another timbre run (PID",
        absent=(tmp / "dest" / "out.onnx",),
    )


@case("export: an existing output without --force")
def _(w, tmp, mp):
    mine = a_file(tmp, "out.onnx")
    return Call(
        export.main, exp(w, mine), 1, "out.onnx: already exists; use --force", intact=(mine,)
    )


@case("export: --output is the model's own generator.keras, with --force")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    own = model / "generator.keras"
    return Call(
        export.main,
        exp(w, own, "tflite", "--force", model=model),
        1,
        "export never writes over its input, even with --force",
        intact=(own,),
    )


@case("export: a SavedModel over the folder that holds the model")
def _(w, tmp, mp):
    model = copy(w.model, tmp)
    return Call(
        export.main,
        exp(w, tmp, "saved_model", "--force", model=model),
        1,
        "holds the model",
        intact=(model / "generator.keras",),
    )


@case("export: a full disk while TensorFlow writes the SavedModel")
def _(w, tmp, mp):
    import tensorflow as tf

    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "x.pb; No space left on device")

    from timbre.tf import export as tf_export

    mp.setattr(tf_export, "_write_saved_model", full)  # as TensorFlow's writer raises it
    return Call(
        export.main,
        exp(w, tmp / "saved", "saved_model"),
        1,
        f"re:^error: \\S*saved: {re.escape(NO_SPACE)}$",
        absent=(tmp / "saved",),
    )


@case("export: a read-only file system names the user's path, not a temporary one")
def _(w, tmp, mp):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    mp.setattr(Path, "write_bytes", read_only)
    return Call(
        export.main,
        exp(w, tmp / "out.onnx"),
        1,
        "re:^error: \\S*/out\\.onnx: read-only file system$",
        absent=(tmp / "out.onnx",),
    )


@case("web: onnxruntime-web not installed")
def _(w, tmp, mp):
    from timbre.web import site

    sources = tmp / "web"
    sources.mkdir()
    for name in site.PAGE_FILES:
        shutil.copy2(site.SOURCE / name, sources / name)
    mp.setattr(site, "SOURCE", sources)
    return Call(
        web_cli.main,
        ["--site", str(tmp / "site"), "--build_only"],
        1,
        "onnxruntime-web is not installed",
        absent=(tmp / "site",),
    )


@case("web: a site folder that is a file")
def _(w, tmp, mp):
    (tmp / "site").write_text("not a folder")
    return Call(
        web_cli.main,
        ["--site", str(tmp / "site"), "--build_only"],
        1,
        "exists and is not a site timbre built",
        intact=(tmp / "site",),
    )


@case("web: a site folder that holds other files")
def _(w, tmp, mp):
    (tmp / "site").mkdir()
    (tmp / "site" / "thesis.txt").write_text("years of work")
    return Call(
        web_cli.main,
        ["--site", str(tmp / "site"), "--build_only"],
        1,
        "exists and is not a site timbre built",
        intact=(tmp / "site" / "thesis.txt",),
    )


# timbre adapt


def adapting(w: World, recordings: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--origin", str(recordings), "--model", str(w.model), "--output", str(out),
        "--jobs", "1", "--quiet", *extra,
    ]  # fmt: skip


@case("adapt: a folder with no audio")
def _(w, tmp, mp):
    (tmp / "mine").mkdir()
    a_file(tmp / "mine", "notes.txt")
    out = tmp / "out"
    return Call(
        adapt.main, adapting(w, tmp / "mine", out), 1, "no audio files", absent=(out / "audios",)
    )


@case("adapt: too little music to learn from says how much is needed")
def _(w, tmp, mp):
    take = wav(tmp / "mine" / "take.wav", 0.5 * sine(440.0, 3.0, 16000))
    out = tmp / "out"
    return Call(
        adapt.main,
        adapting(w, tmp / "mine", out),
        1,
        r"re:mine: 0\.\d min of music with notes to train on .*expected at least 5 min",
        absent=(out / "features", out / "model"),
        intact=(take,),
    )


@case("adapt: a recording with no notes found is named")
def _(w, tmp, mp):
    wav(tmp / "mine" / "take.wav", 0.5 * sine(440.0, 3.0, 16000))
    wav(tmp / "mine" / "silence.wav", np.zeros(16000 * 2))
    out = tmp / "out"
    return Call(adapt.main, adapting(w, tmp / "mine", out), 1, "silence.wav", kind="warning")


@case("adapt: --name that means the origin")
def _(w, tmp, mp):
    argv = adapting(w, w.root, tmp / "out")
    argv[0] = "--target"
    out = tmp / "out"
    return Call(adapt.main, [*argv, "--name", "piano"], 1, "means the origin", absent=(out,))


@case("adapt: --name with an underscore")
def _(w, tmp, mp):
    argv = adapting(w, w.root, tmp / "out")
    argv[0] = "--target"
    return Call(adapt.main, [*argv, "--name", "My_Cello"], 1, "'My_Cello'")


@case("adapt: --target without --name")
def _(w, tmp, mp):
    argv = adapting(w, w.root, tmp / "out")
    argv[0] = "--target"
    return Call(adapt.main, argv, 1, "needs --name")


@case("adapt: --output inside the recordings")
def _(w, tmp, mp):
    wav(tmp / "mine" / "take.wav", 0.5 * sine(440.0, 3.0, 16000))
    out = tmp / "mine" / "adapted"
    return Call(
        adapt.main,
        adapting(w, tmp / "mine", out),
        1,
        "inside the recordings",
        absent=(out / "audios",),
    )


@case("adapt: another run holds the output folder")
def _(w, tmp, mp):
    wav(tmp / "mine" / "take.wav", 0.5 * sine(440.0, 3.0, 16000))
    hold_lock(tmp / "out", mp)
    return Call(
        adapt.main,
        adapting(w, tmp / "mine", tmp / "out"),
        1,
        "another run",
        absent=(tmp / "out" / "audios",),
    )


# --- Running a case -----------------------------------------------------------------------------


def _matches(pattern: str, line: str) -> bool:
    """``pattern`` in ``line``; a pattern starting with ``re:`` is a regular expression."""
    return bool(re.search(pattern[3:], line)) if pattern.startswith("re:") else pattern in line


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("name", list(CASES))
def test_failure(name, world, tmp_path, monkeypatch, capsys):
    tmp = tmp_path / "t"
    tmp.mkdir()
    call = CASES[name](world, tmp, monkeypatch)
    before = {path: path.read_bytes() for path in call.intact}
    capsys.readouterr()
    if call.status == 2:
        with pytest.raises(SystemExit) as exit_info:
            call.main(call.argv)
        status = exit_info.value.code
    else:
        status = call.main(call.argv)
    err = capsys.readouterr().err
    assert status == call.status, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{call.kind}: ")]
    if call.status == 2:  # argparse: usage, then "<prog>: error: argument --x: ..."
        lines = [line for line in err.splitlines() if ": error: " in line]
    assert any(_matches(call.pattern, line) for line in lines), err
    if call.kind == "error":
        assert len([x for x in err.splitlines() if x.startswith("error: ")]) <= 2, err
    for path in call.absent:
        assert not path.exists(), f"{path} was written"
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} was written over"
    assert not _tmp_files(tmp_path), _tmp_files(tmp_path)
    assert not _tmp_files(world.root), "the shared inputs were written to"


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60


# --- The Python API's traps: one TimbreError line before any work, or a correct conversion ------

API_TRAPS = {  # what was given -> (the error's pattern, or None: it must convert correctly)
    "rate 2": ({"sample_rate": 2}, "convert: sample_rate=2 must be a whole number of Hz"),
    "rate 1e9": ({"sample_rate": 10**9}, "sample_rate=1000000000 must be a whole number"),
    "rate 1": ({"sample_rate": 1}, "sample_rate=1 must be a whole number of Hz from 8000"),
    "no rate": ({}, "sample_rate missing: pass the rate of the samples in Hz"),
    "hello": ({"audio": "hello", "sample_rate": 16000}, r"audio: a str \('hello'\)"),
    "None": ({"audio": None, "sample_rate": 16000}, "audio: a NoneType"),
    "strings": ({"audio": ["a", "b"], "sample_rate": 16000}, "audio: a list of str"),
    "int16": ({"pcm": "int16", "sample_rate": 16000}, None),
    "stereo (c, n)": ({"layout": "channels_samples", "sample_rate": 16000}, None),
    "rate 16000.0": ({"sample_rate": 16000.0}, None),
}


@pytest.mark.parametrize("name", list(API_TRAPS))
def test_api_trap(name, world):
    """Each of #24's and #29's API traps: an impossible rate (which once tried to allocate 4.4
    billion samples, or returned silence), a missing one (once a silent model rate), a string
    (once numpy's ValueError), int16 (once converted as raw values, peak ~6000), stereo and a
    whole float rate (once refused).
    """
    from timbre.convert.converter import load_converter

    converter = load_converter(world.model)
    given, pattern = API_TRAPS[name]
    given = dict(given)
    tone = sine(440.0, 1.0, 16000, 0.3)
    audio = given.pop("audio", tone)
    if given.pop("pcm", None):
        audio = np.round(tone * 32768).astype(np.int16)
    if given.pop("layout", None):
        audio = np.stack([tone, tone])
    if pattern is not None:
        with pytest.raises(TimbreError, match=pattern) as error:
            converter.convert(audio, **given)
        assert "\n" not in str(error.value)
        return
    out = converter.convert(audio, **given)
    assert out.shape == tone.shape and np.max(np.abs(out)) < 1.0
    assert np.sqrt(np.mean((out - tone)[2000:-2000] ** 2)) < 0.02  # the identity gives it back


# --- Failures whose whole story is more than one command ----------------------------------------


def test_a_failed_start_leaves_nothing_that_blocks_the_same_command(
    world, tmp_path, capsys, monkeypatch
):
    """A run that fails (or is interrupted) before its first epoch removes what it wrote; one
    killed there (only config.json left) does not count as a run either."""
    from timbre.formats.model_dir import ModelDir
    from timbre.tf import fit as fitting

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    argv = fit(world, tmp_path / "model")
    with monkeypatch.context() as patch:
        patch.setattr(fitting, "_fit", out_of_memory)
        assert train_generator.main(argv) == 1
    assert "error: out of memory" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()
    ModelDir(tmp_path / "model").path.mkdir()
    ModelDir(tmp_path / "model").write_config({"mode": "generator", "origin": KEYS})  # killed
    assert train_generator.main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "model" / "generator.keras").is_file()
    assert train_generator.main(argv) == 1  # now it holds a run
    assert "holds a training run already" in capsys.readouterr().err


def test_diverging_training_names_the_settings(world):
    """Finite features and a non-finite loss: the message blames the settings."""
    from timbre.errors import ConfigError
    from timbre.settings import ModelConfig, TrainConfig
    from timbre.tf.callbacks import NonFiniteStop
    from timbre.tf.run import Run, RunData

    run = Run(world.features, world.root, "generator", KEYS, STRINGS, SMALL_SPEC,
              ModelConfig(), TrainConfig(gen_lr=5.0))  # fmt: skip
    data = RunData(feature_store.load_manifest(world.features), None, None)
    guard = NonFiniteStop(run, data)
    guard.on_train_batch_end(0, {"gen_l1": 0.5})
    with pytest.raises(ConfigError, match="epoch 1, step 3: non-finite loss .*gen_lr=5"):
        guard.on_train_batch_end(2, {"gen_l1": float("nan")})


def test_inputs_differing_only_in_suffix_keep_it(world, tmp_path, capsys):
    wav(tmp_path / "in" / "x.wav", sine(440.0, 0.5, 16000))
    wav(tmp_path / "in" / "x.flac", sine(330.0, 0.5, 16000))
    wav(tmp_path / "in" / "y.flac", sine(330.0, 0.5, 16000))
    assert predict.main(conv(world, tmp_path / "out", source=tmp_path / "in")) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["x.flac.wav", "x.wav.wav", "y.wav"], capsys.readouterr()


def test_predict_rerun_skips_the_converted_files_and_retries_the_failed(world, tmp_path, capsys):
    wav(tmp_path / "in" / "a.wav", sine(440.0, 0.5, 16000))
    (tmp_path / "in" / "b.wav").write_bytes(b"RIFF, not yet")
    argv = conv(world, tmp_path / "out", source=tmp_path / "in")
    assert predict.main(argv) == 1
    assert "rerun the same command once they are fixed" in capsys.readouterr().err
    done = (tmp_path / "out" / "a.wav").stat().st_mtime_ns
    wav(tmp_path / "in" / "b.wav", sine(330.0, 0.5, 16000))  # fixed
    assert predict.main(argv) == 0
    assert "1 of 2 files already converted by this command; kept" in capsys.readouterr().out
    assert (tmp_path / "out" / "a.wav").stat().st_mtime_ns == done
    assert (tmp_path / "out" / "b.wav").is_file()
    assert not (tmp_path / "out" / ".timbre-predict.json").exists()
    assert predict.main(argv) == 1  # a finished run's outputs need --force, as before
    assert "already exists (and 1 more); use --force to overwrite" in capsys.readouterr().err


def test_predict_removes_what_a_killed_run_left(world, tmp_path):
    (tmp_path / "out").mkdir()
    stale = [tmp_path / "out" / ".x.tmp-abcd1234.wav", tmp_path / "out" / ".x.tmp-0000aaaa.png"]
    for path in stale:
        path.write_bytes(b"half")
    (tmp_path / "out" / "keep.txt").write_text("not ours")
    assert predict.main(conv(world, tmp_path / "out" / "x.wav", "--plot")) == 0
    assert not any(path.exists() for path in stale)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt", "x.png", "x.wav"]


# --- Fuzzing the readers --------------------------------------------------------------------------

FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _only_ours(read: Callable, *args) -> None:
    try:
        read(*args)
    except TimbreError:
        pass


@FUZZ
@given(data=st.binary(max_size=2000))
def test_fuzz_audio_reader_with_random_bytes(tmp_path, data):
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    _only_ours(audio.load, path)
    _only_ours(lambda p: list(audio.read_blocks(p, 8000, 256)), path)
    _only_ours(audio.info, path)


@FUZZ
@given(
    samples=hnp.arrays(np.float32, st.integers(0, 300), elements=st.floats(width=32)),
    channels=st.integers(1, 3),
    rate=st.sampled_from([8000, 11025, 44100, 96000]),
    cut=st.integers(0, 1200),
)
def test_fuzz_audio_reader_with_odd_valid_files(tmp_path, samples, channels, rate, cut):
    path = tmp_path / "x.wav"
    frames = np.repeat(samples[:, None], channels, axis=1)
    sf.write(path, frames, rate, subtype="FLOAT")
    if cut:  # and a truncated copy
        path.write_bytes(path.read_bytes()[: max(44, len(path.read_bytes()) - cut)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_ours(audio.load, path, 16000)
        _only_ours(lambda p: list(audio.read_blocks(p, 16000, 64)), path)


MIDI_HEAD = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk"


@FUZZ
@given(data=st.binary(max_size=600), header=st.booleans())
def test_fuzz_midi_reader(tmp_path, data, header):
    path = tmp_path / "x.mid"
    path.write_bytes((MIDI_HEAD + len(data).to_bytes(4, "big") if header else b"") + data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_ours(midi.read, path)


@FUZZ
@given(
    notes=st.lists(
        st.tuples(st.floats(0, 1e7), st.floats(0, 10), st.integers(0, 127), st.integers(1, 127)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_midi_scores_odd_but_valid(tmp_path, notes):
    path = write_midi(tmp_path / "x.mid", [(s, s + d, p, v) for s, d, p, v in notes])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = midi.read(path)
    except TimbreError:
        return
    assert len(score) <= len(notes) and np.all(np.isfinite(score.end))


@FUZZ
@given(
    document=JSON,
    key=st.sampled_from(["pieces", "instruments", "split", "version", "a"]),
    whole=st.booleans(),
)
def test_fuzz_audio_manifest_reader(tmp_path, world, document, key, whole):
    data = json.loads((world.audios / "manifest.json").read_text())
    if whole:
        data = document
    elif key == "a":
        data["pieces"]["a"] = document
    else:
        data[key] = document
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    _only_ours(lambda p: audio_folder.split_of(audio_folder.read(p), p), tmp_path)
    _only_ours(audio_folder.read_previous, tmp_path)


@FUZZ
@given(
    document=JSON,
    key=st.sampled_from(
        ["pieces", "instruments", "split", "spectrogram", "features", "audios_path", "a", "peak_db"]
    ),
    whole=st.booleans(),
)
def test_fuzz_features_manifest_reader(tmp_path, world, document, key, whole):
    data = json.loads((world.features / "manifest.json").read_text())
    if whole:
        data = document
    elif key == "a":
        data["pieces"]["a"] = document
    elif key == "peak_db":
        data["pieces"]["a"]["peak_db"] = document
    else:
        data[key] = document
    (tmp_path / "manifest.json").write_text(json.dumps(data))

    def read(folder):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manifest = feature_store.load_manifest(folder)
        for piece in manifest.pieces:
            manifest.tile_starts(piece)
            for instrument in manifest.instruments:
                manifest.tile_path(instrument, piece)
                manifest.audio_path(instrument, piece)
        manifest.select("train")

    _only_ours(read, tmp_path)


@FUZZ
@given(
    document=JSON,
    key=st.sampled_from(["spectrogram", "origin_level_db", "origin", "model"]),
    whole=st.booleans(),
)
def test_fuzz_model_config_reader(tmp_path, world, document, key, whole):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "generator.keras").write_bytes(b"")
    data = json.loads((world.model / "config.json").read_text())
    if whole:
        data = document
    else:
        data[key] = document
    (model / "config.json").write_text(json.dumps(data))
    _only_ours(read_model_info, model)
    _only_ours(model_dir.check_model_file, model)
