"""Evaluation: ``metrics`` holds the formulas; ``scoring`` the systems,
conditions and reports. TensorFlow loads only when a Keras model converts."""
