"""synaug: fix imbalanced image datasets from the data side (SYNAuG).

Pipeline: dataset -> plan -> generate -> train (stage 1) -> fine-tune last layer (stage 2)
-> evaluate -> report. Each stage is a library function and a `synaug` subcommand.
"""

__version__ = "0.1.0"

from synaug.errors import SynaugError  # noqa: F401
