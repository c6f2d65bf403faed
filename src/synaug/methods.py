"""What to train, named: the face through which experiments (and anything above the engine) name a
training method (`get_method`, the `METHODS` registry, `Method`) and a run's hyper-parameters
(`TrainConfig`). `synaug.train` implements them (`synaug.train.methods`, `synaug.train.config`);
code above the engine imports them from here, so it depends on the vocabulary, not on the training
package's modules."""

from synaug.train.config import TrainConfig  # noqa: F401
from synaug.train.methods import METHODS, Method, get_method  # noqa: F401

__all__ = ["METHODS", "Method", "TrainConfig", "get_method"]
