"""The models shipped inside the package, one model directory each
(``<name>/config.json``, its generator, ``MODEL_CARD.md``); found by name
through :mod:`timbre.formats.shipped`."""
