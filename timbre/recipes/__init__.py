"""Recipes: the demo's presets (``presets``) and stages (``demo``) and the shipped models'
recipes (``pretrained``), as library code the command line calls."""
