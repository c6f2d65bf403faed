"""Name -> factory registries, one for every variation point (models, losses, samplers, batch
transforms, stage-2 recipes, methods, tasks, datasets, generators). Plugging in a new one is a
decorator; looking up a wrong name says what the choices are; `create` refuses options the
factory does not take, so a misspelt option is an error, never silently ignored."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from synaug.errors import ConfigError, SynaugError, unknown

T = TypeVar("T")


class UnknownName(SynaugError, KeyError):
    """A name not in a registry: a KeyError for code, a clear message for the CLI."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownOption(ConfigError, TypeError):
    """An option a registered factory does not take."""


def named_options(factory: Callable) -> set[str]:
    """The keyword names `factory` declares."""
    params = inspect.signature(factory).parameters
    return {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def takes_any_option(factory: Callable) -> bool:
    """Whether `factory` forwards other options (**kwargs) to something that checks them."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


class Registry(dict):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(factory: T) -> T:
            self[name] = factory
            return factory
        return wrap

    def add(self, name: str, entry: T) -> T:
        """Register a value (not a factory), e.g. a Method or a Task."""
        self[name] = entry
        return entry

    def __missing__(self, name):
        raise UnknownName(unknown(self.kind, name, self))

    def create(self, name: str, context: dict | None = None, **options) -> Any:
        """`self[name](**options)`, plus the entries of `context` (what the caller knows: class
        counts, labels...) that the factory names. An option it does not take is an error (a factory
        with **kwargs forwards them to one that checks its own)."""
        factory = self[name]
        takes = named_options(factory)
        extra = sorted(k for k in options if k not in takes)
        if extra and not takes_any_option(factory):
            choices = sorted(takes - set(context or {})) or ["none"]
            raise UnknownOption(f"{self.kind} {name!r} has no option(s) {extra}; its options: {choices}")
        given = {k: v for k, v in (context or {}).items() if k in takes}  # facts go to declared names only
        return factory(**{**given, **options})
