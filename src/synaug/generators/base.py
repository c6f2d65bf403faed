"""The Generator protocol: plan items in, images out. Backends know nothing of files;
the runner (`synaug.generators.runner`) owns batching, resume, atomic writes and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from PIL import Image

from synaug.errors import GenerationError
from synaug.plan import PlanItem
from synaug.registry import Registry


@dataclass
class Generated:
    """One image and what the backend wants recorded beside it (e.g. a re-drawn seed)."""

    image: Image.Image
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    name: str
    parallel_safe: bool  # whether the runner may render batches in several processes (--workers)

    def cannot_draw(self, item: PlanItem) -> str | None:
        """Why this item cannot be drawn, or None when it can."""

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        """One image per item, deterministic given each item's seed."""

    def describe(self) -> dict:
        """Settings that determine the output (recorded in metadata and the run fingerprint)."""


GENERATORS = Registry("generator")
register_generator = GENERATORS.register


def make_generator(name: str, **options) -> Generator:
    """A registered backend (`synaug.generators` registers them all; the diffusion one imports
    diffusers only when it first draws). An unknown option is an error."""
    if name not in GENERATORS:
        raise GenerationError(f"unknown generator {name!r}; choose from {sorted(GENERATORS)}")
    return GENERATORS.create(name, **options)
