"""Training: everything here imports TensorFlow.

``dataset`` (tile store -> tf.data pairs), ``model`` (U-Net, PatchGAN),
``pix2pix`` (the GAN ``keras.Model``), ``loop`` (fit, resume, export),
``checkpoints``, ``samples`` (per-epoch pictures and audio), ``lr_finder``.
"""
