"""timbre: musical timbre transfer with Pix2Pix on log-magnitude spectrograms.

Importing the package loads no TensorFlow. Only ``timbre.training`` (all of it),
``timbre.conversion.keras_backend`` and ``timbre.conversion.export`` import
TensorFlow; everything else, conversion with ONNX Runtime and the command line's
parsers included, is TensorFlow-free (``tests/test_architecture.py`` checks it).
"""

__version__ = "0.1.0"
