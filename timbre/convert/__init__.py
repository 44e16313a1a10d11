"""Conversion: recordings in, the target instrument out (TensorFlow-free).

``converter`` (level, tiling, phase) runs a generator on audio in memory; ``files``
converts files block by block through ``streaming``; ``backends`` picks its runtime:
``onnx_backend`` (ONNX Runtime) or :mod:`timbre.tf.keras_generator` (a Keras model, with
TensorFlow).
"""
