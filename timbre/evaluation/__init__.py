"""Evaluation: ``metrics`` and ``scoring``.

``metrics`` holds the TensorFlow-free formulas; ``scoring`` the systems, conditions
and reports. TensorFlow loads only when ``scoring`` loads a model to convert with.
"""
