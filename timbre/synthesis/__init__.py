"""MIDI + note banks -> paired audio (TensorFlow-free).

``midi`` reads MIDI files, ``corpus`` writes the generated default corpus,
``notebank`` reads NSynth-layout banks and renders SoundFont ones, ``synth``
plays a note list with one bank, ``render`` writes the paired audio folder.
"""
