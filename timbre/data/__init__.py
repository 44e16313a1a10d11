"""MIDI + note banks -> paired audio -> features (TensorFlow-free).

``midi`` reads MIDI files, ``corpus`` writes the generated default corpus,
``notebank`` opens note banks (``nsynth``: their folder layout;
``soundfont_render``: SoundFont notes rendered into it), ``sources`` draws
origin pools, ``synth`` and ``fluid`` play a note list, ``augment`` makes a
rendering sound recorded, ``render`` writes the paired audio folder, and
``features`` turns it into the tile store (``piece_features``: one piece's job).
"""
