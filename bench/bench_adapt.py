#!/usr/bin/env python3
r"""``timbre adapt`` end to end on a stand-in for a user's own instrument, timed.

The stand-in's recordings are made here, from music none of the models learnt (the
generated corpus with its own seed, ``--minutes`` of it, concatenated into
``--recordings`` takes):

- ``piano`` ("make my piano work"): the piano of Csound's GM bank (``sf_GMbank``,
  program 0), the piano the pool holds out, played through one recording setup for
  every take (:mod:`timbre.data.recorded`: a room, a microphone's colouring, a noise
  floor, a band limit and MP3 coding, drawn once from ``--seed``), as a user's piano in
  their room would be. The adapted model starts from ``--model`` (the shipped one);
- ``cello`` ("make it sound like my cello"): MuseScore General's cello (program 42), each
  note brought into the cello's range (C2-E5) by octaves, dry. The adapted model is a new
  target, ``cello``, started from ``--model``'s weights.

Then :func:`timbre.recipes.adapt.adapt` runs every stage (transcription, pairs, features,
training, scoring before and after on the held-out takes); the script prints the wall
time of the material and of the adaptation, the report's table, and the same table with
the held-out takes scored against their true notes (the pairs rebuilt from the music they
play: what a judge holding the music sees). ``--train_on_true_notes`` trains on pairs of
the true notes instead of the transcriptions, which bounds what a better transcription
could give. The work folder is resumed: a rerun skips the finished takes and stages
(delete it to time afresh).

``--recorded_on_top`` also scores the held-out takes through a second recording (the
recorded condition's chain on top of their own).

    .venv/bin/python bench/bench_adapt.py piano [--work /tmp/bench_adapt] [--minutes 30] \
        [--recordings 12] [--budget 15] [--epochs 40] [--recorded_on_top] [--jobs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

STAND_INS = {  # direction -> (SoundFont, GM program, instrument name or None)
    "piano": ("/usr/share/sounds/sf2/sf_GMbank.sf2", 0, None),
    "cello": ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", 42, "cello"),
}
CELLO_RANGE = (36, 76)  # C2 to E5
GAP_S = 1.0  # silence between the corpus pieces of one take


def make_recordings(
    direction: str, player: tuple[Path, int], folder: Path, minutes: float, count: int, seed: int
):
    """The stand-in's takes, ``take_XX.flac``, played by ``player`` (a SoundFont and its
    program), and the notes each plays, ``../truth/take_XX.mid`` (finished takes are kept)."""
    from timbre.data import corpus, midi, recorded
    from timbre.data.fluid import PieceSynthesizer
    from timbre.io import audio
    from timbre.settings import SynthConfig

    soundfont, program = player
    rate = 44100
    music = folder.parent / "music"
    pieces = sorted(music.glob("piece_*.mid")) or corpus.write_corpus(music, minutes, seed)
    synthesizer = PieceSynthesizer(soundfont, program, SynthConfig(sample_rate=rate))
    for take, group in enumerate(np.array_split(np.arange(len(pieces)), count)):
        path, truth = (
            folder / f"take_{take:02d}.flac",
            folder.parent / "truth" / f"take_{take:02d}.mid",
        )
        if path.is_file() and truth.is_file():
            continue
        parts, notes, start_s = [], [], 0.0
        for index in group:
            score = midi.read(pieces[index])
            if direction == "cello":
                score = _in_range(score, *CELLO_RANGE)
            notes += [(start_s + s, start_s + e, int(p), int(v)) for s, e, p, v in _notes(score)]
            parts += [synthesizer.render(score), np.zeros(int(GAP_S * rate), np.float32)]
            start_s += (len(parts[-2]) + len(parts[-1])) / rate
        if not path.is_file():
            samples = np.concatenate(parts)
            if direction == "piano":  # one room and microphone for every take: the user's
                samples, _ = recorded.record(samples, rate, "my_room", seed)
            audio.save(path, samples, rate, subtype="PCM_16")
        midi.write(truth, midi.Score.from_notes(notes))


def _notes(score):
    return zip(score.start, score.end, score.pitch, score.velocity)


def transcription_f1(truth: Path, transcriptions: Path) -> float:
    """The mean note F1 (onset and pitch) of the takes' transcriptions against their notes."""
    from timbre.data import midi
    from timbre.data.transcribe import Note
    from timbre.evaluate.notes import note_f1

    def notes(path):
        return [Note(float(s), float(e), int(p), int(v)) for s, e, p, v in _notes(midi.read(path))]

    scores = [
        note_f1(notes(path), notes(transcriptions / path.name))[2]
        for path in sorted(truth.glob("take_*.mid"))
        if (transcriptions / path.name).is_file()
    ]
    return float(np.mean(scores))


def true_notes_table(work: Path, out: Path, base: Path, instrument, config) -> str:
    """The report's table again, the held-out takes scored against their true notes: the
    pairs rebuilt (``<out>/true_notes/``) from ``<work>/truth`` instead of the
    transcriptions (the same pieces, players and split), so a transcription's mistakes no
    longer sit in the test pairs; this is how a judge holding the music scores."""
    import dataclasses

    from timbre.data.own import TRANSCRIPTIONS
    from timbre.formats.model_dir import read_model_info
    from timbre.recipes import adapt

    info = read_model_info(base)
    folder = out / "true_notes"
    _place_true_notes(work / "truth", folder / "audios" / TRANSCRIPTIONS)
    unmixed = dataclasses.replace(config, mix_minutes=0.0)  # the held-out takes are scored
    audios, minutes = adapt.make_pairs(
        work / "recordings", folder, info, instrument, unmixed, jobs=1, progress=False
    )
    adapt.make_features(audios, folder, info, jobs=1, progress=False)
    before, after = before_after(
        out, base, folder / "features", folder / "eval", instrument, config
    )
    return adapt.report_table(before, after, minutes, config.condition).replace(
        "scored against the rendering of their transcription", "scored against their true notes"
    )


def before_after(out: Path, base: Path, features: Path, folder: Path, instrument, config):
    """``base`` and the adapted ``<out>/model`` scored on the held-out tiles of ``features``
    (:func:`timbre.recipes.adapt.score`, into ``<folder>/before`` and ``<folder>/after``)."""
    from timbre.recipes import adapt

    targets = list(adapt.model_targets(base)) if instrument is None else [instrument]
    before = adapt.score(base, features, folder / "before", targets, config)
    return before, adapt.score(out / "model", features, folder / "after", targets, config)


def recorded_table(out: Path, base: Path, instrument, config) -> str:
    """The report's table again, the held-out takes played through the recorded condition's
    chain on top of their own recording (``<out>/eval_recorded/``)."""
    import dataclasses

    from timbre.recipes import adapt

    on_top = dataclasses.replace(config, condition="recorded")
    features, folder = out / "features", out / "eval_recorded"
    before, after = before_after(out, base, features, folder, instrument, on_top)
    table = adapt.report_table(before, after, 0.0, on_top.condition)
    return table.split("\n\n", 1)[1]  # the table without the minutes of music


def _place_true_notes(truth: Path, transcriptions: Path) -> None:
    """The takes' true notes where the adaptation looks for their transcriptions (it keeps
    a transcription it finds there)."""
    import shutil

    transcriptions.mkdir(parents=True, exist_ok=True)
    for path in sorted(truth.glob("take_*.mid")):
        if not (transcriptions / path.name).is_file():
            shutil.copy2(path, transcriptions / path.name)


def _in_range(score, low: int, high: int):
    from timbre.data.midi import Score

    pitch = score.pitch.astype(int)
    while (pitch < low).any() or (pitch > high).any():
        pitch = np.where(pitch < low, pitch + 12, np.where(pitch > high, pitch - 12, pitch))
    notes = zip(score.start, score.end, pitch, score.velocity)
    return Score.from_notes([(s, e, int(p), int(v)) for s, e, p, v in notes], score.pedal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("direction", choices=sorted(STAND_INS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_adapt"))
    parser.add_argument("--soundfont", type=Path, help="another stand-in (the direction's)")
    parser.add_argument("--program", type=int, help="its GM program (the direction's)")
    parser.add_argument("--model", default="keyboard", help="shipped name or model directory")
    parser.add_argument("--minutes", type=float, default=30.0, help="music of the stand-in")
    parser.add_argument("--recordings", type=int, default=12, help="takes it is cut into")
    parser.add_argument("--budget", type=float, default=15.0, help="training minutes at most")
    parser.add_argument("--seed", type=int, default=1234, help="music and the recording setup")
    parser.add_argument(
        "--mix_minutes", type=float, default=None, help="generated music mixed in (the default's)"
    )
    parser.add_argument(
        "--gen_lr", type=float, default=None, help="fine-tuning rate (the direction's default)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="of the fine-tuning, at most (the default's)"
    )
    parser.add_argument(
        "--recorded_on_top",
        action="store_true",
        help="also score the held-out takes through a second recording (the recorded condition)",
    )
    parser.add_argument(
        "--onset_threshold", type=float, default=None, help="of the transcription (the default's)"
    )
    parser.add_argument(
        "--train_on_true_notes",
        action="store_true",
        help="pairs from the notes the takes play instead of their transcriptions (a ceiling)",
    )
    parser.add_argument("--tag", default="out", help="the adaptation's folder in the work folder")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from timbre.cli.common import start_tensorflow
    from timbre.cli.demo import PrintedReport
    from timbre.data.own import TRANSCRIPTIONS
    from timbre.formats import shipped
    from timbre.recipes.adapt import STAGES, AdaptConfig, adapt

    soundfont, program, instrument = STAND_INS[args.direction]
    player = (args.soundfont or Path(soundfont), program if args.program is None else args.program)
    work = args.work / (args.direction if player[0] == Path(soundfont) else player[0].stem)
    begin = time.perf_counter()
    make_recordings(
        args.direction, player, work / "recordings", args.minutes, args.recordings, args.seed
    )
    print(
        f"material: {args.recordings} takes, {args.minutes:g} min, "
        f"{time.perf_counter() - begin:.0f} s"
    )
    base = shipped.resolve(args.model)
    changes = {
        "mix_minutes": args.mix_minutes,
        "gen_lr": args.gen_lr,
        "new_target_lr": args.gen_lr,
        "epochs": args.epochs,
    }
    config = dataclasses.replace(
        AdaptConfig(minutes=args.budget), **{k: v for k, v in changes.items() if v is not None}
    )
    if args.onset_threshold is not None:
        transcription = dataclasses.replace(
            config.pairs.transcription, onset_threshold=args.onset_threshold
        )
        pairs = dataclasses.replace(config.pairs, transcription=transcription)
        config = dataclasses.replace(config, pairs=pairs)
    if args.train_on_true_notes:
        _place_true_notes(work / "truth", work / args.tag / "audios" / TRANSCRIPTIONS)
    begin = time.perf_counter()
    report = adapt(
        work / "recordings",
        work / args.tag,
        base,
        config,
        instrument=instrument,
        jobs=args.jobs,
        report=PrintedReport(STAGES),
        prepare_tensorflow=start_tensorflow,
    )
    print(f"adaptation end to end: {(time.perf_counter() - begin) / 60:.1f} min")
    f1 = transcription_f1(work / "truth", work / args.tag / "audios" / TRANSCRIPTIONS)
    print(f"transcription of the takes, note F1 against the notes they play: {f1:.2f}")
    print(report.read_text())
    if args.recorded_on_top:
        print("The held-out takes through a second recording (the recorded condition):\n")
        print(recorded_table(work / args.tag, base, instrument, config))
    if args.train_on_true_notes:  # the report's pairs are those of the true notes already
        return
    print("The held-out takes against their true notes (what a judge with the music sees):\n")
    print(true_notes_table(work, work / args.tag, base, instrument, config))


if __name__ == "__main__":
    main()
