"""The paper's analyses as named experiments (Figures 2-5 of the ICML paper and the workshop
paper's uniformization study); importing this package registers them all in
`synaug.experiments.catalog.EXPERIMENTS`."""

from synaug.experiments.analyses import fig2  # noqa: F401
from synaug.experiments.analyses import fig5  # noqa: F401
from synaug.experiments.analyses import fig3  # noqa: F401
from synaug.experiments.analyses import fig4  # noqa: F401
from synaug.experiments.analyses import uniformization  # noqa: F401
