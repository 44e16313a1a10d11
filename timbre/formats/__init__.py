"""One module per on-disk layout, each the only code that reads or writes it.

``audio_folder`` (``<instrument>/<piece>.wav`` and its manifest),
``render_state`` (the audio folder's resume record), ``feature_store`` (tiles,
splits, settings), ``model_dir`` (a model directory), ``ledger`` (predict's
output plan and resume record), ``generator`` (what a generator file must take
and give), ``shipped`` (the models shipped in :mod:`timbre.pretrained`, by
name). TensorFlow-free.
"""
