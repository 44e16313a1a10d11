"""Conversion: recordings in, the target instrument out.

``converter`` loads a model (TensorFlow) and converts whole files;
``streaming`` is its block-by-block twin and imports no TensorFlow itself.
"""
