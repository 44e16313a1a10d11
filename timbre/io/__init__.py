"""The bottom layer that touches the outside world: atomic writes and run locks
(``atomic``), audio files (``audio``), pictures (``plotting``), the process pool
(``pool``). TensorFlow-free."""
