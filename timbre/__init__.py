"""timbre: musical timbre transfer with Pix2Pix on log-magnitude spectrograms.

The package never imports TensorFlow at import time; only ``dataset``,
``model``, ``pix2pix``, ``training`` and ``inference`` do.
"""

__version__ = "0.1.0"
