"""synaug: fix imbalanced image datasets from the data side (SYNAuG).

Pipeline: dataset -> plan -> generate -> train (stage 1) -> fine-tune last layer (stage 2)
-> evaluate -> report. Each stage is a library function and a `synaug` subcommand; the Python API
mirrors the CLI, one function per subcommand: `synaug.plan`, `synaug.generate`, `synaug.cache`,
`synaug.train`, `synaug.evaluate`, `synaug.export`, `synaug.run`, `synaug.demo`, `synaug.experiment`, `synaug.audit`,
`synaug.filter`, `synaug.fit_lora`, `synaug.fit_generator` (see `synaug.api`).
"""

from synaug.version import __version__  # noqa: F401

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

