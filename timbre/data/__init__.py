"""MIDI + note banks -> paired audio -> features (TensorFlow-free).

``midi`` reads MIDI files, ``corpus`` writes the generated default corpus,
``notebank`` opens note banks (``nsynth``: their folder layout;
``soundfont_render``: SoundFont notes rendered into it), ``sources`` draws
origin pools, ``synth`` and ``fluid`` play a note list, ``augment`` makes a
rendering sound recorded (hand-made tilt, tail and noise), ``recorded`` plays it through a
simulated room, microphone, noise, band limit and MP3 (pyroomacoustics, pedalboard),
``render`` writes the paired audio folder, and ``features`` turns it into the tile store
(``piece_features``: one piece's job).
"""
