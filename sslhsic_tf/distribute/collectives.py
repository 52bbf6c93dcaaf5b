"""The one place that defines how a global-batch objective is computed under data parallelism.

The convention (objectives.md, "Distributed training"):

1. Every objective is a function of the **global** batch. Under `tf.distribute` each replica
   holds a shard, so the trainer calls `gather(x, axis)` on every head output before the
   objective: a differentiable all-gather whose gradient sums the upstream gradients over
   replicas and keeps this replica's slice. Every replica then computes the same global loss.
2. Keras 3's TensorFlow optimizer **sums** gradients over replicas. A loss computed identically
   on each of N replicas therefore yields N times the single-replica gradient unless it is
   multiplied by `replica_scale(loss) = loss / N`. With this factor, N replicas on a global
   batch give exactly the update of one replica on the same batch (tested in
   `tests/methods/test_distributed.py`).
3. A per-example loss averaged over a replica's own shard (the online probe's cross-entropy)
   is also multiplied by `replica_scale`: the sum over replicas of shard means / N is the
   global mean when shards are equal, which `drop_remainder=True` guarantees.
4. Under JAX (`keras.distribution.DataParallel`) the batch is one global array that XLA
   shards; there is no replica context, `gather` is the identity and `replica_scale` divides
   by 1.

Logged metrics are the unscaled global values, identical on every replica.
"""

import keras


def _replica_context():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    # In cross-replica context (inside `strategy.scope()` but outside `strategy.run`) there is
    # no replica context; nothing to gather there.
    return ctx


def num_replicas():
    """Number of replicas whose gradients the optimizer sums (1 outside tf.distribute)."""
    ctx = _replica_context()
    return 1 if ctx is None else int(ctx.num_replicas_in_sync)


def gather(x, axis=0):
    """All-gathers `x` along `axis` over replicas, differentiably; identity with one replica.

    Shards are concatenated in replica order, which is the order in which
    `tf.distribute` split the global batch, so the result equals the global batch.
    Args:
      x: a tensor, e.g. views `[M, b, D]` with the per-replica batch `b` on `axis=1`.
    Returns:
      `x` with `axis` of size `b * num_replicas()`.
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    import tensorflow as tf

    out = ctx.all_gather(x, axis=axis)
    # all_gather loses the static shape; restore it (the gathered axis grows n-fold).
    shape = list(x.shape)
    if shape[axis] is not None:
        shape[axis] *= ctx.num_replicas_in_sync
    return tf.ensure_shape(out, shape)


def replica_scale(loss):
    """`loss / num_replicas()`: what to differentiate so that summed gradients equal one replica's."""
    n = num_replicas()
    return loss if n == 1 else loss / n


def sum_over_replicas(grads):
    """`grads` (None allowed) summed over the replicas of a tf.distribute replica context (one
    all-reduce): the global gradient, of which each replica holds a part. Unchanged with one
    replica, outside a replica context, or on JAX (whose gradients are already global)."""
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return grads
    import tensorflow as tf

    present = [i for i, g in enumerate(grads) if g is not None]
    summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
    out = list(grads)
    for i, g in zip(present, summed):
        out[i] = g
    return out


def clip_global_gradients(grads, groups):
    """Makes gradient clipping act on the global (summed) gradient under tf.distribute.

    Keras 3 on TensorFlow clips (`clipnorm`, `global_clipnorm`, `clipvalue`) each replica's
    partial gradient *before* its cross-replica sum, so N replicas do not apply the clipped
    global gradient. Where several replicas run and a group clips, this sums the gradients over
    replicas here (one extra all-reduce), clips each group with its function, and divides by N:
    the optimizer's own sum then yields the clipped global gradient, and its own clipping is a
    no-op on gradients already within bounds (a norm or value at most c stays at most c after
    division by N). With one replica (or on JAX) it returns `grads` unchanged.

    Args:
      grads: list of gradients (None allowed), aligned with the variables.
      groups: list of `(indices, clip_fn)`: positions in `grads` and the function that clips a
        list of their gradients (e.g. an optimizer's `_clip_gradients`).
    """
    ctx = _replica_context()
    n = 1 if ctx is None else ctx.num_replicas_in_sync
    if n == 1 or not groups:
        return grads
    out = sum_over_replicas(grads)
    for indices, clip_fn in groups:
        indices = [i for i in indices if out[i] is not None]
        for i, g in zip(indices, clip_fn([out[i] for i in indices])):
            out[i] = g
    return [None if g is None else g / n for g in out]
