"""synaug: fix imbalanced image datasets from the data side (SYNAuG).

Pipeline: dataset -> plan -> generate -> train (stage 1) -> fine-tune last layer (stage 2)
-> evaluate -> report. Each stage is a library function and a `synaug` subcommand; the Python API
mirrors the CLI: `synaug.plan`, `synaug.generate`, `synaug.train`, `synaug.evaluate`, `synaug.run`
(see `synaug.api`).
"""

__version__ = "0.1.0"

import sys
import types

from synaug.errors import SynaugError  # noqa: F401
from synaug import api
from synaug.api import evaluate, generate, run  # noqa: F401


class _CallableModule(types.ModuleType):
    """`synaug.plan` and `synaug.train` are modules (the planner, the training package) AND the API
    functions of the same names: calling the module calls `synaug.api.<name>`, and every import of
    the module (`import synaug.train.loop`, `from synaug.plan import ...`) keeps working."""

    def __call__(self, *args, **kwargs):
        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


for _name in ("synaug.plan", "synaug.train"):
    sys.modules[_name].__class__ = _CallableModule
