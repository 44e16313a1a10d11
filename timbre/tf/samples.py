"""Per-epoch validation samples of a training run, in the model directory's ``samples/``.

After every epoch the generator converts one fixed validation excerpt (the
first tile of the first validation piece), and ``samples/epoch_XXX.png``
shows input | prediction | target; when the features' audio is at hand,
``samples/epoch_XXX.wav`` is the prediction turned back into audio with the
origin's phase. Listening to and looking at the same excerpt epoch after
epoch shows how the conversion improves. A multi-target model writes one pair
per target, ``samples/epoch_XXX_<target>.png`` and ``.wav``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from timbre import plotting
from timbre.dsp.stft import SILENCE, invert_log_spectrogram, log_spectrogram
from timbre.formats.audio_folder import piece_path
from timbre.formats.feature_store import manifest_path
from timbre.formats.model_dir import ModelDir
from timbre.io import audio
from timbre.io.atomic import load_npy
from timbre.settings import SpectrogramConfig
from timbre.tf.pix2pix import Pix2Pix


@dataclasses.dataclass(frozen=True)
class Excerpt:
    """One tile of a validation piece: origin and target spectrograms, and the origin's phase."""

    piece: str
    origin: np.ndarray  # (n_bins, tile_frames), in [-1, 1], padded with SILENCE
    target: np.ndarray  # (n_bins, tile_frames)
    phase: np.ndarray | None  # (n_bins, n_frames) of the origin audio; None: no audio, no WAV
    length: int  # samples of the excerpt audio
    condition: np.ndarray | None = None  # a multi-target model's one-hot target; None: single
    label: str = ""  # the target's name in the file names of a multi-target model's samples


def load_excerpt(manifest, split: str | list[str], origin: str, target: str) -> Excerpt:
    """The first tile of the first piece of ``split``.

    ``split`` is a split name of the manifest or a list of pieces.

    Spectrograms come from the audio under ``manifest.audios_path`` (so the
    WAV can use the origin's phase); without the audio, from the first tile
    of the features and no WAV (warns).
    """
    pieces = manifest.split[split] if isinstance(split, str) else split
    piece, spec = pieces[0], manifest.spectrogram
    paths = [
        piece_path(manifest.audios_path or Path(), name, piece, manifest_path(manifest.path))
        for name in (origin, target)
    ]
    if manifest.audios_path and all(path.exists() for path in paths):
        length = (spec.tile_frames - 1) * spec.hop_length
        clips = [audio.load(path, spec.sample_rate)[0][:length] for path in paths]
        (origin_spec, phase), (target_spec, _) = (log_spectrogram(clip, spec) for clip in clips)
        pad = [(0, 0), (0, spec.tile_frames - origin_spec.shape[1])]
        return Excerpt(
            piece,
            np.pad(origin_spec, pad, constant_values=SILENCE),
            np.pad(target_spec, pad, constant_values=SILENCE),
            phase,
            len(clips[0]),
        )
    warnings.warn(
        f"{paths[0]}: audio not found; samples/ gets spectrogram PNGs but no WAV", stacklevel=2
    )
    tiles = [
        np.asarray(load_npy(manifest.tile_path(name, piece))[0], dtype=np.float32)
        for name in (origin, target)
    ]
    return Excerpt(piece, tiles[0], tiles[1], None, 0)


def write_samples(
    model: Pix2Pix, excerpt: Excerpt, spec: SpectrogramConfig, model_dir: Path, epoch: int
) -> None:
    """Write samples/epoch_XXX.png (input | prediction | target).

    With audio, also samples/epoch_XXX.wav.
    """
    tile = excerpt.origin[None, :, :, None].astype(np.float32)
    inputs = tile if excerpt.condition is None else [tile, excerpt.condition[None]]
    prediction = np.asarray(model.generator(inputs, training=False), dtype=np.float32)[0, :, :, 0]
    panels = [("input", excerpt.origin), ("prediction", prediction), ("target", excerpt.target)]
    title = f"{excerpt.piece}{' -> ' + excerpt.label if excerpt.label else ''}, epoch {epoch}"
    suffix = f"_{excerpt.label}" if excerpt.label else ""
    figure = plotting.spectrogram_figure(panels, spec, title=title)
    plotting.save_figure(figure, ModelDir(model_dir).sample(epoch, f"{suffix}.png"))
    if excerpt.phase is not None:
        frames = excerpt.phase.shape[1]
        converted = invert_log_spectrogram(
            prediction[:, :frames], excerpt.phase, spec, excerpt.length
        )
        audio.save(ModelDir(model_dir).sample(epoch, f"{suffix}.wav"), converted, spec.sample_rate)
