"""What to train, named: the face through which experiments (and anything above the engine) name a
training method (`get_method`, the `METHODS` registry, `Method`) and a run's hyper-parameters
(`TrainConfig`). The package `synaug.training` implements them (`synaug.training.methods`, `synaug.training.config`);
code above the engine imports them from here, so it depends on the vocabulary, not on the training
package's modules."""

from synaug.training.config import TrainConfig  # noqa: F401
from synaug.training.methods import METHODS, Method, get_method  # noqa: F401

__all__ = ["METHODS", "Method", "TrainConfig", "get_method"]
