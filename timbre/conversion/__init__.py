"""Conversion: recordings in, the target instrument out.

``converter`` (tiling, level, blending, phase, files) and ``streaming`` (its
block-by-block twin) import no TensorFlow: they are handed a generator.
``backends`` picks its runtime: ``onnx_backend`` (ONNX Runtime, no TensorFlow)
or ``keras_backend`` (TensorFlow). ``export`` (TensorFlow) writes the ONNX copy
of a generator and self-contained converters for deployment.
"""
