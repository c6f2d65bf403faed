"""The package version, in a module of its own so that any part of synaug can record it (a fitted
generator's generator.json, `synaug --version`) without importing the package root."""

__version__ = "0.1.0"  # the same as pyproject.toml's [project] version
