"""The one NumPy signal chain: STFT and its inverse, log compression, edge
extension, tiling and blending, Griffin-Lim. Every runtime (whole-file and
streaming conversion, the TensorFlow export graph) uses or is tested against it.
"""
