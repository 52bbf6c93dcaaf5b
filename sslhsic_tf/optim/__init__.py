"""Optimisation: LARS, warmup+cosine schedules, and the partitioned optimizer.

- `lars`: `LARS` (Keras 3 optimizer).
- `exclusions`: `norm_and_bias_variables(model)` (alias `lars_exclusions`: biases and
  normalisation parameters, chosen by variable identity) and the exclusion bookkeeping that LARS
  and CoupledSGD share.
- `schedules`: `WarmupCosine`, `scaled_learning_rate` (the linear scaling rule).
- `sgd`: `CoupledSGD` (torch.optim.SGD's update: weight decay in the gradient, optionally not on
  biases and normalisation parameters).
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
from sslhsic_tf.optim.exclusions import lars_exclusions, norm_and_bias_variables
from sslhsic_tf.optim.lars import LARS
from sslhsic_tf.optim.partitioned import PartitionedOptimizer
from sslhsic_tf.optim.schedules import WarmupCosine, scaled_learning_rate
from sslhsic_tf.optim.sgd import CoupledSGD

__all__ = [
    "CoupledSGD", "LARS", "OPTIMIZER_DEFAULTS", "OPTIMIZER_NAMES", "OPTIMIZER_TYPES", "PartitionedOptimizer",
    "WarmupCosine", "build_optimizer", "check_settings", "lars_exclusions", "norm_and_bias_variables",
    "scaled_learning_rate",
]
