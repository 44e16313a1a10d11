"""Recipes: the demo's presets and the shipped models' recipes, as library code
the command line calls."""
