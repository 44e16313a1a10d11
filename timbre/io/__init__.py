"""The bottom layer that touches the outside world: atomic writes, temporary names and
run locks (``atomic``), audio files (``audio``), the process pool (``pool``).
TensorFlow-free; pictures are :mod:`timbre.plotting`'s, a layer up (they need the settings)."""
