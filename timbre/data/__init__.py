"""MIDI + note banks -> paired audio -> features (TensorFlow-free).

``midi`` reads MIDI files, ``corpus`` writes the generated default corpus,
``notebank`` reads NSynth-layout banks and renders SoundFont ones, ``sources``
draws origin pools, ``synth`` and ``fluid`` play a note list, ``augment`` makes
a rendering sound recorded, ``render`` writes the paired audio folder, and
``features`` turns it into the tile store.
"""
