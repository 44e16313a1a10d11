"""timbre: musical timbre transfer with Pix2Pix on log-magnitude spectrograms.

In Python, three lines convert a recording (see the README's "Python API")::

    import timbre
    converter = timbre.load_converter("models/k2s")  # a model directory or a shipped name
    out = converter.convert(samples, sample_rate=rate)  # or converter.convert_file(src, dst)

Importing the package loads no TensorFlow: ``load_converter`` and ``Converter``
are imported on first use. Only ``timbre.tf`` (all of it),
``timbre.tf.keras_generator`` and ``timbre.tf.export`` import
TensorFlow; everything else, conversion with ONNX Runtime and the command line's
parsers included, is TensorFlow-free (``tests/contracts/test_architecture.py`` checks it).
"""

__version__ = "0.1.0"
__all__ = ["Converter", "load_converter"]


def __getattr__(name: str):
    """``timbre.load_converter`` and ``timbre.Converter``, imported when first used."""
    if name in __all__:
        from timbre.convert import converter

        return getattr(converter, name)
    raise AttributeError(f"module 'timbre' has no attribute {name!r}")
