"""Data parallelism: the cross-replica conventions (one place) and strategy construction."""

from sslhsic_tf.distribute.collectives import (
    clip_global_gradients,
    gather,
    num_replicas,
    replica_scale,
    sum_over_replicas,
)

__all__ = ["clip_global_gradients", "gather", "num_replicas", "replica_scale", "sum_over_replicas"]

from sslhsic_tf.distribute.strategies import make_strategy  # noqa: E402

__all__ += ["make_strategy"]
