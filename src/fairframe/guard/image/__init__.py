"""The image path of the guard: image classifiers, the transformation check and regeneration."""
