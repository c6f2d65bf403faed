"""The Generator protocol: plan items in, images out. Backends know nothing of files; the runner
(`synaug.generators.runner`) owns batching, resume, atomic writes and metadata.

A backend is a registered factory taking its own options (one vocabulary across backends: `model`,
`steps`, `guidance`, `scheduler`, `device`, `dtype`, `compile`...) and, by keyword, whichever facts
of the dataset it draws for it declares (`CONTEXT`): the size and channels images are saved at, the
class and group names, the class aliases, the real training images, the unused real pool. The caller
(`make_generator`) passes every fact it has; the registry hands each backend the ones it names, and
a fact it names but the caller lacks is an error naming it. No code outside `synaug.generators` asks
which backend it is talking to: a backend's capabilities are its declared options and its
`quality_knob` (the option that sets sample quality, Fig. 4). A backend declares the values its
options may take as data, as imbalanced-learn's `_parameter_constraints`: `option_constraints =
{option: allowed}` (`synaug.constraints`), checked by `check_option` in its constructor and by
`check_generator_options` wherever options enter (a config's `generate: {options:}`, a flag), so a
bad value is refused before any folder is made or image drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from PIL import Image

from synaug.constraints import check
from synaug.errors import ConfigError, GenerationError, unknown
from synaug.plans import PlanItem
from synaug.registry import Registry, UnknownOption, named_options, takes_any_option

# The facts of a dataset a backend may declare, with what each is.
CONTEXT = {
    "image_shape": "(H, W, C): the size and channels images are saved at (the planned dataset's)",
    "class_names": "every class name of the dataset, in label order",
    "group_names": "every group name (None without groups)",
    "aliases": "{class name: the words a generator reads for it}",
    "render_words": "{class name: the word an offline renderer looks up for it (prompts keep the class words)}",
    "unspecified_groups": "groups a backend may draw when a prompt names none (a class-only plan of grouped data)",
    "real": "the real training images of the planned cells (an ImageSet)",
    "unused": "real images of the same classes the training set left out (an ImageSet), or None",
}


@dataclass
class Generated:
    """One image and what the backend wants recorded beside it (e.g. a re-drawn seed)."""

    image: Image.Image
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Knob:
    """The option that sets a backend's sample quality (the paper's Fig. 4 turns diffusion steps)."""

    option: str       # the generator option
    default: float    # its value when not given
    levels: tuple     # default levels of the study, worst quality first
    label: str        # axis title

    def quality(self, value: float) -> float:
        """Higher is better: the value itself, or 1 - value for a knob that degrades (`degrade`)."""
        return 1.0 - float(value) if self.option == "degrade" else float(value)


@runtime_checkable
class Generator(Protocol):
    name: str
    parallel_safe: bool  # whether the runner may render batches in several processes (--workers)
    reads_prompt: bool   # whether an image depends on the prompt's words (modifiers), not only its class / group

    def cannot_draw(self, item: PlanItem) -> str | None:
        """Why this item cannot be drawn, or None when it can."""

    def generate(self, items: Sequence[PlanItem]) -> list[Generated]:
        """One image per item, deterministic given each item's seed."""

    def describe(self) -> dict:
        """Settings that determine the output (recorded in metadata and the run fingerprint)."""


GENERATORS = Registry("generator")
register_generator = GENERATORS.register


class Lazy:
    """A context fact computed only when a backend declares it (e.g. loading the real images)."""

    def __init__(self, make: Callable[[], Any]):
        self.make = make


def generator_factory(name: str):
    if name not in GENERATORS:
        raise GenerationError(unknown("generator", name, GENERATORS))
    return GENERATORS[name]


def context_needs(name: str) -> set[str]:
    """The context facts backend `name` declares."""
    return named_options(generator_factory(name)) & set(CONTEXT)


def check_generator_options(name: str, options: Mapping) -> None:
    """Refuse options backend `name` does not take, and context facts given as options (they come
    from the plan, e.g. the image size), before anything is drawn."""
    factory = generator_factory(name)
    facts = sorted(set(options) & set(CONTEXT))
    if facts:
        raise ConfigError(f"generator {name!r}: {facts} come from the plan and the dataset, not from options")
    takes = named_options(factory) - set(CONTEXT)
    extra = sorted(k for k in options if k not in takes)
    if extra and not takes_any_option(factory):
        raise UnknownOption(f"generator {name!r} has no option(s) {extra}; its options: {sorted(takes) or ['none']}")
    for option in sorted(set(options) & set(getattr(factory, "option_constraints", {}))):
        check_option(factory, option, options[option])


def check_option(backend, option: str, value):
    """`value` when backend's declared `option_constraints[option]` accept it, else the one wording
    (`NAME option OPTION: must be ..., got VALUE`)."""
    return check(f"{backend.name} option {option}", value, *backend.option_constraints[option])


def quality_knob(name: str) -> Knob | None:
    """The option that sets backend `name`'s sample quality, or None."""
    return getattr(generator_factory(name), "quality_knob", None)


def fitting(name: str) -> tuple | None:
    """(settings class, "module:function" that fits it) for a backend trained on the dataset's own
    images before it draws (`ddpm`), else None. The engine fits it into the shared folder when a
    config says `generate: {generator: NAME, fit: {pool: train, ...}}`."""
    factory = generator_factory(name)
    return (factory.fit_settings, factory.fitter) if hasattr(factory, "fitter") else None


def generator_note(name: str) -> str:
    """What a report should say about a backend's images (e.g. that `render` is a stand-in), or ''."""
    return getattr(generator_factory(name), "report_note", "") if name in GENERATORS else ""


def reads_prompt(name: str) -> bool:
    """Whether backend `name` draws from the prompt's words (a text-to-image model, the renderer's
    modifier styles) rather than from the class and group labels alone (a class-conditional model)."""
    return bool(getattr(generator_factory(name), "reads_prompt", True))


def takes_option(name: str, option: str) -> bool:
    """Whether backend `name` has `option` (e.g. img2img: image translation)."""
    return option in named_options(generator_factory(name))


def make_generator(name: str, context: Mapping[str, Any] | None = None, **options) -> Generator:
    """A registered backend built with `options` and the facts of `context` it declares (a `Lazy`
    fact is computed only then). An unknown option, or a declared fact the caller lacks, is an error."""
    check_generator_options(name, options)
    context = dict(context or {})
    needs = context_needs(name)
    missing = sorted(n for n in needs if n not in context and _required(name, n))
    if missing:
        raise GenerationError(f"generator {name!r} needs {', '.join(f'{m} ({CONTEXT[m]})' for m in missing)}, "
                              "which this command does not have")
    facts = {k: (v.make() if isinstance(v, Lazy) else v) for k, v in context.items() if k in needs}
    return GENERATORS.create(name, facts, **options)


def _required(name: str, fact: str) -> bool:
    """Whether the backend's `fact` parameter has no default."""
    import inspect
    param = inspect.signature(generator_factory(name)).parameters[fact]
    return param.default is inspect.Parameter.empty
