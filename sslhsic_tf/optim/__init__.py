"""Optimisation: LARS, warmup+cosine schedules, and the partitioned optimizer.

- `lars`: `LARS` (Keras 3 optimizer), `lars_exclusions(model)` (biases and normalisation
  parameters, chosen by variable identity).
- `schedules`: `WarmupCosine`, `scaled_learning_rate` (the linear scaling rule).
- `partitioned`: `PartitionedOptimizer` (one optimizer routing variables to sub-optimizers).
"""

from sslhsic_tf.optim.lars import LARS, lars_exclusions
from sslhsic_tf.optim.partitioned import PartitionedOptimizer
from sslhsic_tf.optim.schedules import WarmupCosine, scaled_learning_rate

__all__ = [
    "LARS", "PartitionedOptimizer", "WarmupCosine", "lars_exclusions", "scaled_learning_rate"
]
