"""Every named experiment (`synaug experiment --list`): importing a module registers its experiments
in `synaug.experiments.catalog.EXPERIMENTS`. Import this module, not the catalog, to see them all.

To add a family of experiments: write its module against the catalog seam and add its import here.
"""

from synaug.experiments import tables  # noqa: F401  (table1, table2, table3a-d, table4, table5)
from synaug.experiments import analyses  # noqa: F401  (fig2-fig5, uniformization)
from synaug.experiments.catalog import EXPERIMENTS, Experiment, dry_run, named_or_auto, run_all, run_named  # noqa: F401


def listing() -> list[Experiment]:
    """The registered experiments in name order."""
    return [EXPERIMENTS[n] for n in sorted(EXPERIMENTS)]
