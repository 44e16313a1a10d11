"""timbre: musical timbre transfer with Pix2Pix on log-magnitude spectrograms.

In Python, three lines convert a recording (see the README's "Python API")::

    import timbre
    converter = timbre.load_converter("models/k2s")  # a model directory or a shipped name
    out = converter.convert(samples, sample_rate=rate)  # or converter.convert_file(src, dst)

``sample_rate`` is required (8,000 to 192,000 Hz); integer arrays are scaled by their dtype's
range and channels are mixed to mono, as the command line does
(:meth:`timbre.convert.converter.Converter.convert`). Every error a user can cause is a
``timbre.TimbreError`` with one line saying what was given and what is expected.

Importing the package loads no TensorFlow: ``load_converter`` and ``Converter``
are imported on first use. Only ``timbre.tf`` (all of it),
``timbre.tf.keras_generator`` and ``timbre.tf.export`` import
TensorFlow; everything else, conversion with ONNX Runtime and the command line's
parsers included, is TensorFlow-free (``tests/contracts/test_architecture.py`` checks it).
"""

__version__ = "0.1.0"
__all__ = ["Converter", "TimbreError", "load_converter"]


def __getattr__(name: str):
    """``timbre.load_converter``, ``timbre.Converter`` and ``timbre.TimbreError``, imported
    when first used.
    """
    if name == "TimbreError":
        from timbre.errors import TimbreError

        return TimbreError
    if name in __all__:
        from timbre.convert import converter

        return getattr(converter, name)
    raise AttributeError(f"module 'timbre' has no attribute {name!r}")
