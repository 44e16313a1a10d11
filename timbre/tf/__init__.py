"""Everything that imports TensorFlow: the networks, the GAN, the tf.data
pipeline, training, the Keras generator runtime and export."""
