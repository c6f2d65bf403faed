"""A backend's settings recorded once, where its constructor sets them (diffusers'
`ConfigMixin.register_to_config` is the model).

In `__init__`, `self.record(steps=int(steps), ...)` sets each checked setting as an attribute and
names it in the record; `config` reads the recorded settings back, and `describe()` (written beside
the images and hashed into a folder's fingerprint, hence into job keys) is built from them. A setting
is therefore spelled once: describe(), the metadata a backend writes from it and the run record
cannot drift from what the constructor set.

describe() deliberately leaves things out, and keeps the exact output earlier folders were
fingerprinted with:
- `described` names, in the record's order, what determines the images: settings that change no
  image (device, batch, a redraw budget) are recorded but not described;
- a name in `left_out_when_unset` is absent while its value is falsy (0, empty, None), so folders made
  before the option existed keep their fingerprint;
- a described name that is no setting, or is shown otherwise than it is stored (a checkpoint's
  digest, a model given as None shown as 'None'), comes from the backend's `derived()`.
Values are written as JSON shows them: a path as its string, a tuple as a list, a mapping sorted by key.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping


class RecordsConfig:
    """Mixin of a generator backend: `record()` in the constructor, `describe()` from the record."""

    name: str
    described: tuple[str, ...] = ()           # what determines the images, in the record's order
    left_out_when_unset: tuple[str, ...] = ()  # described names absent while falsy

    def record(self, **settings: Any) -> None:
        """Set each setting as an attribute and name it in the record (later calls add to it)."""
        for key, value in settings.items():
            setattr(self, key, value)
        self._recorded = tuple(dict.fromkeys((*getattr(self, "_recorded", ()), *settings)))

    @property
    def config(self) -> Mapping[str, Any]:
        """The recorded settings, read from the attributes they set (read-only)."""
        return MappingProxyType({key: getattr(self, key) for key in getattr(self, "_recorded", ())})

    def derived(self) -> dict:
        """Described facts that are no recorded setting (a digest), or shown otherwise than stored."""
        return {}

    def describe(self) -> dict:
        """Settings that determine the output (recorded in metadata and the run fingerprint)."""
        facts = {**self.config, **self.derived()}
        return {"generator": self.name, **{key: as_json(facts[key]) for key in self.described
                                            if facts[key] or key not in self.left_out_when_unset}}


def as_json(value: Any) -> Any:
    """`value` as describe() writes it: a path as its string, a tuple as a list, a mapping sorted."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: as_json(v) for k, v in sorted(value.items())}
    return value
