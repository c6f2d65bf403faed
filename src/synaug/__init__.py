"""synaug: fix imbalanced image datasets from the data side (SYNAuG).

Pipeline: dataset -> plan -> generate -> train (stage 1) -> fine-tune last layer (stage 2)
-> evaluate -> report. Each stage is a library function and a `synaug` subcommand; the Python API
mirrors the CLI, one function per subcommand: `synaug.plan`, `synaug.generate`, `synaug.cache`,
`synaug.train`, `synaug.evaluate`, `synaug.export`, `synaug.run`, `synaug.demo`, `synaug.experiment`, `synaug.audit`,
`synaug.filter`, `synaug.fit_lora`, `synaug.fit_generator` (see `synaug.api`).
"""

from synaug.version import __version__  # noqa: F401

import importlib
import sys
import types

from synaug.errors import SynaugError  # noqa: F401

API = ("plan", "generate", "cache", "train", "evaluate", "export", "run", "demo", "experiment", "audit", "filter",
       "fit_lora", "fit_generator")


def _api(name: str):
    # the API (and torch with it) loads on first use, so `import synaug.errors` and `synaug --help` stay fast
    from synaug import api
    return getattr(api, name)


def __getattr__(name: str):
    if name in API:
        return _api(name)
    raise AttributeError(f"module 'synaug' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """`synaug.plan` and `synaug.train` are modules (the planner, the training package) AND the API
    functions of the same names: calling the module calls `synaug.api.<name>`, and every import of
    the module (`import synaug.train.loop`, `from synaug.plan import ...`) keeps working. The module
    shows the function's signature (`inspect.signature`) and its docstring first (`help()`)."""

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    def _function(self):
        return _api(self.__name__.rpartition(".")[2])

    @property
    def __signature__(self):
        import inspect
        return inspect.signature(self._function())

    @property
    def __doc__(self):
        fn = self._function()
        own = self.__dict__.get("__doc__") or ""
        return (f"The API function {self.__name__}: call this module.\n\n    {self.__name__}{self.__signature__}"
                f"\n\n{fn.__doc__}\n\nAlso the module {self.__name__}"
                + (f": {own}" if own else " (import its parts: synaug.train.loop, synaug.train.models, ...)"))


for _name in ("synaug.plan", "synaug.train"):
    importlib.import_module(_name).__class__ = _CallableModule
