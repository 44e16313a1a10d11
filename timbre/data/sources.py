"""Source pools: an origin instrument played by many pianos, one drawn per piece.

A user's recording is never the SoundFont piano the model was trained on, so
an origin instrument such as ``keyboard_acoustic`` stands for a *pool* of
sources, and each piece's origin part is rendered by one source drawn for that
piece (seeded); the target keeps one source, since the model must learn one
target sound.

- SoundFonts: every program of :data:`POOL_PROGRAMS` (for ``keyboard_acoustic``
  the two acoustic pianos of General MIDI, programs 0 and 1; for any other
  instrument its :data:`~timbre.data.notebank.GM_PROGRAMS` entry) of every
  SoundFont in the pool. :func:`default_soundfonts` lists the ones that install
  without a download: TimGM6mb inside ``pretty_midi``, MuseScore General (the
  Debian package ``musescore-general-soundfont-small``) and Csound's GM bank
  (``csound-soundfont``). FluidR3 (``fluid-soundfont-gm``, 148 MB) is left out;
  add it, or any other ``.sf2``/``.sf3``, with ``--soundfont``.
- NSynth: every preset of the instrument's family and source
  (``keyboard_acoustic_000``, ``keyboard_acoustic_001``, ...).

A source is named ``<soundfont stem>:<program>`` or ``nsynth:<instrument_str>``.
The draw is a function of the seed and the piece's name only, so it does not
depend on the order of pieces, the number of worker processes or a resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from timbre.data import notebank
from timbre.errors import NoteBankError

POOL_PROGRAMS = {"keyboard_acoustic": (0, 1)}  # GM Acoustic Grand and Bright Acoustic Piano
DEBIAN_SOUNDFONTS = (  # (package, path) of the SoundFonts `make` installs
    ("musescore-general-soundfont-small", "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
    ("csound-soundfont", "/usr/share/sounds/sf2/sf_GMbank.sf2"),
)


@dataclasses.dataclass(frozen=True)
class SourcePool:
    """The sources one instrument is rendered with; one is drawn per piece."""

    instrument: str
    sources: dict[str, notebank.NoteBank]  # source name -> bank, sorted by name

    def draw(self, piece: str, seed: int) -> str:
        """The source of ``piece``: seeded by ``seed`` and the piece's name alone."""
        return sorted(self.sources)[draw(len(self.sources), piece, seed)]

    def without(self, held_out: Sequence[str]) -> SourcePool:
        """The pool less ``held_out`` sources (e.g. a piano kept for evaluation only).

        Raises:
            NoteBankError: an unknown source, or nothing left.
        """
        unknown = sorted(set(held_out) - set(self.sources))
        if unknown:
            raise NoteBankError(
                f"{self.instrument}: unknown sources {unknown} (the pool has "
                f"{', '.join(sorted(self.sources))})"
            )
        kept = {name: bank for name, bank in self.sources.items() if name not in held_out}
        if not kept:
            raise NoteBankError(f"{self.instrument}: holding out {list(held_out)} leaves no source")
        return SourcePool(self.instrument, kept)

    def describe(self) -> list[str]:
        """The manifest's entry: the source names."""
        return sorted(self.sources)


def draw(count: int, piece: str, seed: int) -> int:
    """One of ``count`` choices for ``piece``, a function of ``seed`` and its name alone."""
    digest = int(hashlib.sha1(piece.encode()).hexdigest()[:12], 16)
    return int(np.random.default_rng([seed, digest]).integers(count))


def default_soundfonts() -> list[Path]:
    """The SoundFonts of the default pool that are installed here (pretty_midi's always is)."""
    found = [notebank.default_soundfont()]
    found += [Path(path) for _, path in DEBIAN_SOUNDFONTS if Path(path).is_file()]
    return found


def missing_soundfonts() -> list[str]:
    """Debian packages of the default pool that are not installed (for a warning)."""
    return [package for package, path in DEBIAN_SOUNDFONTS if not Path(path).is_file()]


def pool_programs(instrument: str, programs: dict[str, int] | None = None) -> tuple[int, ...]:
    """GM programs an instrument's pool takes from each SoundFont.

    An explicit ``programs`` entry (``--program NAME=N``) replaces the pool's programs.
    """
    if programs and instrument in programs:
        return (programs[instrument],)
    if instrument in POOL_PROGRAMS:
        return POOL_PROGRAMS[instrument]
    return tuple(notebank.resolve_programs([instrument]).values())


def soundfont_pool(
    instrument: str,
    soundfonts: Sequence[str | os.PathLike],
    cache_root: str | os.PathLike | None = None,
    programs: dict[str, int] | None = None,
    progress: bool = True,
    pitches: Sequence[int] = notebank.BANK_PITCHES,
) -> SourcePool:
    """Render (once, cached per SoundFont) and open every program of every SoundFont.

    Args:
        instrument: an NSynth ``<family>_<source>`` name.
        soundfonts: ``.sf2``/``.sf3`` files; the same file given twice counts once.
        cache_root: folder holding one bank folder per SoundFont (named by its
            hash); ``None``: each SoundFont's :func:`~timbre.data.notebank.default_cache_dir`.
        programs: overrides, as ``--program``.
        progress: show progress while rendering.
        pitches: pitches to render (fewer make quick test banks).

    Raises:
        NoteBankError: as :func:`~timbre.data.notebank.prepare_soundfont_bank`,
            or two SoundFonts with the same file name.
    """
    sources: dict[str, notebank.NoteBank] = {}
    seen: dict[str, Path] = {}
    for soundfont in dict.fromkeys(Path(s).resolve() for s in soundfonts):
        if soundfont.stem in seen:
            raise NoteBankError(
                f"{soundfont}: has the same name as {seen[soundfont.stem]} (expected SoundFonts "
                "with distinct file names: the name identifies the source in manifests)"
            )
        seen[soundfont.stem] = soundfont
        folder = None
        if cache_root is not None:
            folder = Path(cache_root) / notebank.default_cache_dir(soundfont).name
        for program in pool_programs(instrument, programs):
            banks = notebank.prepare_soundfont_bank(
                folder, [instrument], soundfont, {instrument: program}, progress, pitches
            )
            sources[f"{soundfont.stem}:{program}"] = banks.banks[instrument]
    return SourcePool(instrument, dict(sorted(sources.items())))


def nsynth_pool(folder: str | os.PathLike, instrument: str) -> SourcePool:
    """Every preset of ``instrument``'s family and source in an NSynth folder.

    Raises:
        NoteBankError: as :func:`~timbre.data.notebank.open_nsynth_presets`.
    """
    banks = notebank.open_nsynth_presets(folder, instrument)
    return SourcePool(instrument, {f"nsynth:{bank.instrument_str}": bank for bank in banks})
