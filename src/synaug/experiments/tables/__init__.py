"""The paper's tables as named experiments; importing this package registers them all."""

from synaug.experiments.tables import groups  # noqa: F401  (table3a-d, table4)
from synaug.experiments.tables import longtail  # noqa: F401  (table1, table2, table3b-lt, table5)
