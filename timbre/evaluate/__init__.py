"""Evaluation: ``metrics`` holds the formulas; ``config`` a run's settings; ``pairs`` the test
pieces and the conditions they are scored in; ``scoring`` the systems and their scores;
``report`` the results files. TensorFlow loads only when a Keras model converts."""
