"""Generators (the Generator protocol and its backends) and the resumable runner."""

from synaug.generators.base import GENERATORS, Generated, Generator, make_generator  # noqa: F401
from synaug.generators import render  # noqa: F401  (registers the offline `render` backend)
from synaug.generators import diffusion  # noqa: F401  (registers `diffusion`; diffusers is imported on first use)
from synaug.generators import smote  # noqa: F401  (registers `smote`: imbalanced-learn's SMOTE on pixels)
from synaug.generators import heldout  # noqa: F401  (registers `heldout`: unused real images, the ceiling)
from synaug.generators import ddpm  # noqa: F401  (registers `ddpm`: a diffusion model fitted on the dataset; torch loads on first use)
from synaug.generators.runner import GenerationReport, run_generation  # noqa: F401
