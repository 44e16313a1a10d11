"""The audio folder's resume record: which pieces are complete, from which MIDI content.

Written by :mod:`timbre.data.render` beside the audio folder's manifest
(:mod:`timbre.formats.audio_folder`)::

    <audios>/.render_state.json   {"<piece>": "<SHA-1 of the MIDI file it was rendered from>"}
    <audios>/.render_state.log    one JSON line ["<piece>", "<SHA-1>"] per piece finished
                                  since the JSON file was last saved
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from timbre.io.atomic import naming_failures, read_json, write_json

STATE = ".render_state.json"  # which pieces are complete, from which MIDI content
STATE_LOG = ".render_state.log"  # pieces completed since the state was last saved


def midi_digest(path: Path) -> str:
    """SHA-1 of a MIDI file's content (what a piece's record compares)."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


class RenderState:
    """``<audios>/.render_state.json``: piece -> SHA-1 of its MIDI file.

    The SHA-1 is that of the MIDI file the piece's complete audio was rendered from.

    A piece is trusted only while its MIDI file is unchanged, so a folder reused
    with other MIDI files (or another generated corpus) under the same names is
    rendered again. The worker that finishes a piece appends it at once to
    ``.render_state.log`` (:func:`record`; one JSON line, a line cut short by a kill is
    ignored), so no finished piece is rendered again after a kill or a Ctrl-C, even one
    a worker finished while the run was stopping; :meth:`save` folds the log into the
    JSON file, atomically.
    """

    def __init__(self, audios: Path, digests: dict[str, str]) -> None:
        self.path, self.log, self.digests = audios / STATE, audios / STATE_LOG, digests
        entries = read_json(self.path) if self.path.is_file() else {}
        self.entries: dict[str, str] = entries if isinstance(entries, dict) else {}
        self._fold_log()

    def trusted(self, name: str) -> bool:
        return self.entries.get(name) == self.digests[name]

    def forget(self, names: Sequence[str]) -> None:
        """Drop ``names`` and save: their audio is about to be rewritten."""
        for name in names:
            self.entries.pop(name, None)
        self._write()

    def add(self, name: str) -> None:
        """Note ``name`` as complete (its worker has recorded it in the log already)."""
        self.entries[name] = self.digests[name]

    def save(self) -> None:
        """Fold the pieces the workers recorded into the JSON file."""
        self._fold_log()
        self._write()

    def _fold_log(self) -> None:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.is_file() else []
        for line in lines:
            try:
                name, digest = json.loads(line)
            except ValueError:  # a line cut short by a kill (or not a pair)
                continue
            if isinstance(name, str) and isinstance(digest, str):
                self.entries[name] = digest

    def _write(self) -> None:
        with naming_failures(self.path):
            write_json(self.path, dict(sorted(self.entries.items())))
        self.log.unlink(missing_ok=True)


def record(audios: Path, name: str, digest: str) -> None:
    """Append a finished piece to the record's log (one short line: atomic across workers)."""
    log = audios / STATE_LOG
    with naming_failures(log), open(log, "a") as f:
        f.write(json.dumps([name, digest]) + "\n")
