"""`synthesize_audios.py` / `timbre synthesize`: render MIDI with several instruments, aligned
sample for sample.

Without --midi_path a seeded corpus of generated keyboard pieces is written to
<audios_path>/midi/ and used. Without --nsynth_path the note banks are rendered
from SoundFonts into --bank_cache (default ~/.cache/timbre/banks/<soundfont-hash>/)
once per SoundFont.

Sources: each instrument of --pool (default keyboard_acoustic) is played, piece
by piece, by a source drawn from a pool: the acoustic pianos (GM programs 0 and
1) of every SoundFont (TimGM6mb bundled with pretty_midi, MuseScore General and
Csound's GM bank where their Debian packages are installed, and every
--soundfont), or with --nsynth_path every preset of its family. The other
instruments (the targets) have one source: the first --soundfont (default
TimGM6mb), or NSynth --preset.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path

from timbre.cli.common import (
    add_jobs,
    add_output_flags,
    add_seed,
    parse_instruments,
    report_failures,
    run,
)
from timbre.formats import audio_folder


def _program(text: str) -> tuple[str, int]:
    name, _, number = text.partition("=")
    try:
        return name.strip(), int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} (expected NAME=PROGRAM, e.g. string_acoustic=48)"
        ) from None


SPEED_RANGE = (0.01, 100.0)  # --playback_speed and --duration_rate: beyond this, a mistake


def _pool_names(text: str) -> list[str]:
    return [] if text.strip() == "none" else parse_instruments(text)


def build_parser() -> argparse.ArgumentParser:
    from timbre.data.notebank import DEFAULT_INSTRUMENTS, GM_PROGRAMS

    table = ", ".join(f"{name}={program}" for name, program in GM_PROGRAMS.items())
    parser = argparse.ArgumentParser(
        prog="synthesize_audios.py",
        description=__doc__,
        epilog=f"General MIDI programs of the SoundFont instruments (0-based): {table}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--audios_path",
        required=True,
        help=f"output folder: <instrument>/<piece>.wav and {audio_folder.MANIFEST}",
    )
    parser.add_argument(
        "--midi_path", help="folder of MIDI files, searched recursively (default: generated corpus)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--nsynth_path", help="NSynth json/wav folder (examples.json + audio/)")
    source.add_argument(
        "--soundfont",
        action="append",
        default=[],
        help="a .sf2/.sf3 file, added to the pools; the first also plays the other instruments "
        "(default: TimGM6mb.sf2 bundled with pretty_midi; repeatable)",
    )
    parser.add_argument(
        "--pool",
        type=_pool_names,
        default=["keyboard_acoustic"],
        help="comma-separated instruments drawn from a source pool per piece, or 'none' "
        "(default: keyboard_acoustic)",
    )
    parser.add_argument(
        "--hold_out",
        type=parse_instruments,
        default=[],
        metavar="SOURCE[,SOURCE]",
        help="sources left out of the pools, e.g. sf_GMbank:0 (a piano kept for evaluation)",
    )
    parser.add_argument(
        "--instruments",
        type=parse_instruments,
        default=list(DEFAULT_INSTRUMENTS),
        help=f"comma-separated NSynth names (default: {','.join(DEFAULT_INSTRUMENTS)})",
    )
    parser.add_argument(
        "--program",
        type=_program,
        action="append",
        default=[],
        metavar="NAME=N",
        help="General MIDI program (0-127) of an instrument, overriding the table (repeatable)",
    )
    parser.add_argument(
        "--preset",
        type=int,
        default=0,
        help="NSynth: the N-th instrument of a family_source (default: 0)",
    )
    parser.add_argument(
        "--bank_cache",
        help="folder of the SoundFont note bank (default: ~/.cache/timbre/banks/<hash>)",
    )
    parser.add_argument(
        "--playback_speed",
        type=float,
        default=1.0,
        help="tempo factor from 0.01 to 100; 2 = twice as fast (default: 1)",
    )
    parser.add_argument(
        "--duration_rate",
        type=float,
        default=1.0,
        help="factor on note lengths, 0.01 to 100 (default: 1)",
    )
    parser.add_argument(
        "--transpose", type=int, default=0, help="semitones added to every pitch (default: 0)"
    )
    parser.add_argument(
        "--max_seconds", type=float, help="cut pieces longer than this many seconds"
    )
    parser.add_argument(
        "--subtype",
        choices=["PCM_16", "PCM_24", "FLOAT"],
        default="PCM_16",
        help=(
            "WAV sample format (default: %(default)s; "
            "FLOAT files differ by a time stamp run to run)"
        ),
    )
    parser.add_argument(
        "--renderer",
        choices=["fluidsynth", "notes"],
        default="fluidsynth",
        help="fluidsynth: SoundFont instruments play whole pieces (pedal, release, notes as "
        "long as the music holds them; NSynth banks are always played note by note); notes: "
        "every note from its 4 s bank recording, as NSynth (faster) (default: %(default)s)",
    )
    parser.add_argument(
        "--augment",
        choices=["none", "simple", "recorded"],
        default="none",
        help="what the pooled instruments' training pieces go through (validation and test "
        "pieces stay clean): recorded: a simulated room, a microphone's EQ, noise, a band "
        "limit and MP3 (pyroomacoustics, pedalboard: the [evaluate] extra), as evaluate.py's "
        "'recorded' condition; simple: an EQ tilt, a reverberation tail and noise "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--augment_share",
        type=float,
        default=1.0,
        help="share of the training pieces --augment applies to, 0 to 1; the others stay clean "
        "(default: 1)",
    )
    parser.add_argument(
        "--corpus_minutes",
        type=float,
        default=10.0,
        help="length of the generated corpus (default: 10)",
    )
    add_jobs(parser)
    add_seed(parser)
    add_output_flags(parser)
    return parser


def _body(args: argparse.Namespace) -> int:
    from timbre.data import corpus, notebank, render, sources
    from timbre.errors import ConfigError
    from timbre.settings import AugmentConfig, SynthConfig

    config = SynthConfig(
        playback_speed=args.playback_speed,
        duration_rate=args.duration_rate,
        transpose=args.transpose,
        max_seconds=args.max_seconds,
        subtype=args.subtype,
        renderer=args.renderer,
    )
    low, high = SPEED_RANGE
    for flag in ("playback_speed", "duration_rate"):
        if not low <= getattr(args, flag) <= high:
            raise ConfigError(
                f"--{flag} {getattr(args, flag):g}: out of range (expected {low:g} to {high:g}: "
                "beyond that a piece would last days or vanish)"
            )
    if args.nsynth_path and args.program:
        raise ConfigError(
            "--program: applies to SoundFont banks only (expected no --program with --nsynth_path; "
            "choose NSynth instruments by name or --preset)"
        )
    pooled = [name for name in args.pool if name in args.instruments]
    augment = None
    if not 0.0 <= args.augment_share <= 1.0:
        raise ConfigError(f"--augment_share {args.augment_share:g}: expected 0 to 1")
    if args.augment != "none":
        if not pooled:
            raise ConfigError(
                "--augment: applies to the pooled instruments (expected --pool to name one of "
                "--instruments)"
            )
        augment = AugmentConfig(chain=args.augment, probability=args.augment_share)
    elif args.augment_share != 1.0:
        raise ConfigError("--augment_share: applies with --augment (expected --augment too)")
    if args.nsynth_path:
        banks = notebank.open_nsynth_bank(args.nsynth_path, args.instruments, args.preset)
        pools = [sources.nsynth_pool(args.nsynth_path, name) for name in pooled]
    else:
        banks = notebank.prepare_soundfont_bank(
            args.bank_cache,
            args.instruments,
            args.soundfont[0] if args.soundfont else None,
            dict(args.program),
            progress=not args.quiet,
        )
        soundfonts = sources.default_soundfonts() + [Path(s) for s in args.soundfont]
        if pooled and sources.missing_soundfonts():
            warnings.warn(
                f"the default piano pool lacks the SoundFonts of {sources.missing_soundfonts()} "
                "(install them: make setup, or apt-get install them)",
                stacklevel=1,
            )
        pools = [
            sources.soundfont_pool(
                name, soundfonts, programs=dict(args.program), progress=not args.quiet
            )
            for name in pooled
        ]
    unknown = sorted(set(args.hold_out) - {source for pool in pools for source in pool.sources})
    if unknown:
        available = sorted(source for pool in pools for source in pool.sources)
        raise ConfigError(
            f"--hold_out: unknown sources {unknown} (the pools have: {', '.join(available)})"
        )
    pools = [pool.without([s for s in args.hold_out if s in pool.sources]) for pool in pools]
    midi_path = args.midi_path
    if midi_path is None:
        midi_path = Path(args.audios_path) / "midi"
        corpus.write_corpus(midi_path, args.corpus_minutes, args.seed)
    summary = render.render_pairs(
        midi_path,
        args.audios_path,
        banks,
        config,
        pools=pools,
        augment=augment,
        jobs=args.jobs,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(
        f"rendered {len(summary.rendered)} pieces ({summary.seconds:.1f} s each instrument), "
        f"skipped {len(summary.skipped)} already done, failed {len(summary.failed)}; manifest: "
        f"{summary.manifest}"
    )
    return report_failures(summary.failed.values())  # each reason names its MIDI file


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
