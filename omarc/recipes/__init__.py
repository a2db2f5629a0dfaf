"""Recipes built from the library: the supervised run that trains the packaged default model."""
