"""Name -> factory registries (models, losses, samplers, batch transforms, datasets, generators).
Plugging in a new one is a decorator; looking up a wrong name says what the choices are."""

from __future__ import annotations

from typing import Callable, TypeVar

from synaug.errors import SynaugError, unknown

T = TypeVar("T", bound=Callable)


class UnknownName(SynaugError, KeyError):
    """A name not in a registry: a KeyError for code, a clear message for the CLI."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(dict):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(factory: T) -> T:
            self[name] = factory
            return factory
        return wrap

    def __missing__(self, name):
        raise UnknownName(unknown(self.kind, name, self))
