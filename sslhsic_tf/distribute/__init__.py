"""Data parallelism: the cross-replica conventions (one place) and strategy construction."""

from sslhsic_tf.distribute.collectives import (
    clip_global_gradients,
    gather,
    num_replicas,
    replica_scale,
)

__all__ = ["clip_global_gradients", "gather", "num_replicas", "replica_scale"]

from sslhsic_tf.distribute.strategies import make_strategy  # noqa: E402

__all__ += ["make_strategy"]
