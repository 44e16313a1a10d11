"""The ONNX Runtime of a generator: ``generator.onnx`` run without TensorFlow.

``generator.onnx`` is a float32 copy of ``generator.keras`` (written by
:mod:`timbre.tf.export`), one input and one output of shape
(batch, n_bins, tile_frames, 1); a multi-target model's has a second input,
the target one-hot (batch, n_targets). Starting ONNX Runtime and reading the model
takes a fraction of a second where importing TensorFlow takes several.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from timbre.errors import ModelError
from timbre.formats.generator import (
    SOURCE_KEY,
    check_io_count,
    check_tile_shape,
    source_digest,
)
from timbre.settings import SpectrogramConfig


class StaleOnnxError(ModelError):
    """``generator.onnx`` was made from another ``generator.keras`` than the one beside it."""


def available() -> bool:
    """True when onnxruntime is installed (an optional dependency)."""
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxGenerator:
    """An ONNX Runtime session as a :class:`timbre.formats.generator.Generator`.

    Args:
        path: an ONNX model mapping (batch, n_bins, tile_frames, 1) float32 to the same shape.
        config: the spectrogram settings, to check the model's shape against.
        threads: ONNX Runtime's intra-op threads; ``None``: its default, one per physical core.
        condition: a multi-target model's target, one-hot (:meth:`ModelInfo.condition`);
            ``None`` for a single-target model.

    Raises:
        ModelError: the file is missing or not an ONNX model, its shapes disagree with
            ``config``, or it takes a target and none was given (or the reverse).
    """

    backend = "onnx"
    precision = "float32"

    def __init__(
        self,
        path: str | os.PathLike,
        config: SpectrogramConfig,
        threads: int | None = None,
        condition: np.ndarray | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        # Idle threads sleep instead of spinning between ops: on a machine shared with other
        # work, spinning burnt 1.8x the CPU per tile and took longer (bench_predict.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=ort.get_available_providers()
            )
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/NoSuchFile...
            raise ModelError(
                f"{path}: not a loadable ONNX model ({type(e).__name__}: {e}); rewrite it with "
                "`timbre export --model <model dir> --format generator_onnx`"
            ) from e
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        check_io_count(len(inputs), len(outputs), condition, str(path))
        shapes = [tuple(inputs[0].shape[1:]), tuple(outputs[0].shape[1:])]
        self.tile_shape = check_tile_shape(shapes, config, str(path))
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.condition = None
        if condition is not None:
            self.condition = (inputs[1].name, np.asarray(condition, dtype=np.float32)[None])

    @property
    def metadata(self) -> dict[str, str]:
        """The model's custom metadata (e.g. :data:`SOURCE_KEY`)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(tiles[..., None], dtype=np.float32)
        feed = {self.input_name: batch}
        if self.condition is not None:
            name, one_hot = self.condition
            feed[name] = np.repeat(one_hot, len(batch), axis=0)
        (out,) = self.session.run([self.output_name], feed)
        return out[..., 0]


def load(
    path: str | os.PathLike,
    config: SpectrogramConfig,
    source: str | os.PathLike | None,
    condition: np.ndarray | None = None,
) -> OnnxGenerator:
    """Open ``generator.onnx`` (bound to ``condition``, a multi-target model's one-hot
    target); with ``source``, check that it was made from that ``generator.keras``.

    Raises:
        StaleOnnxError: it records another source (or none).
        ModelError: as :class:`OnnxGenerator`.
    """
    generator = OnnxGenerator(path, config, condition=condition)
    if source is not None:
        recorded = generator.metadata.get(SOURCE_KEY)
        if recorded != source_digest(source):
            raise StaleOnnxError(
                f"{path}: made from another generator than {Path(source).name} beside it "
                "(its SHA-256 differs); rewrite it with `timbre export --model "
                f"{Path(source).parent} --format generator_onnx`"
            )
    return generator
