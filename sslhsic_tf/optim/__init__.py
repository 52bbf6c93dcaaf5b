"""Optimisation: LARS, warmup+cosine schedules, and the partitioned optimizer.

- `lars`: `LARS` (Keras 3 optimizer), `lars_exclusions(model)` (biases and normalisation
  parameters, chosen by variable identity).
- `schedules`: `WarmupCosine`, `scaled_learning_rate` (the linear scaling rule).
- `sgd`: `CoupledSGD` (torch.optim.SGD's update: weight decay in the gradient).
- `partitioned`: `PartitionedOptimizer` (one optimizer routing variables to sub-optimizers).
- `factory`: `build_optimizer(settings, total_steps, batch_size)`, the one place a network
  optimizer is made; `OPTIMIZER_DEFAULTS`, `OPTIMIZER_TYPES`, `OPTIMIZER_NAMES`.
"""

from sslhsic_tf.optim.factory import (
    OPTIMIZER_DEFAULTS,
    OPTIMIZER_NAMES,
    OPTIMIZER_TYPES,
    build_optimizer,
    check_settings,
)
from sslhsic_tf.optim.lars import LARS, lars_exclusions
from sslhsic_tf.optim.partitioned import PartitionedOptimizer
from sslhsic_tf.optim.schedules import WarmupCosine, scaled_learning_rate
from sslhsic_tf.optim.sgd import CoupledSGD

__all__ = [
    "CoupledSGD", "LARS", "OPTIMIZER_DEFAULTS", "OPTIMIZER_NAMES", "OPTIMIZER_TYPES", "PartitionedOptimizer",
    "WarmupCosine", "build_optimizer", "check_settings", "lars_exclusions", "scaled_learning_rate",
]
