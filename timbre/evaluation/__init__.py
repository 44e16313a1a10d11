"""Evaluation: ``metrics`` (TensorFlow-free formulas) and ``scoring`` (systems, conditions, reports).

TensorFlow loads only when ``scoring`` loads a model to convert with.
"""
