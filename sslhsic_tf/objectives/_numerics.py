"""Numerically guarded primitives shared by the objectives (float32, keras.ops)."""

import math

from keras import ops

# Floor on the squared norm in `l2_normalize` (norm floor 1e-6), as tf.math.l2_normalize does.
NORM_EPS = 1e-12
# Below this value `guarded_sqrt` is linear (slope 1/sqrt(eps)); above it, it is exactly sqrt.
SQRT_EPS = 1e-12


def l2_normalize(x, axis=-1):
    """`x / max(||x||, 1e-6)` along `axis`; finite value and gradient even for a zero vector."""
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, NORM_EPS))


def guarded_sqrt(x):
    """sqrt(x) for x > 1e-12, x / 1e-6 below: continuous, exactly 0 at 0, finite gradient everywhere.

    The plain sqrt has an infinite slope at 0 (HSIC_ZZ = 0 at collapse). The linear piece keeps
    the value exact where it matters and caps the slope at 1e6.
    """
    safe = ops.maximum(x, SQRT_EPS)
    return ops.where(x > SQRT_EPS, ops.sqrt(safe), x / math.sqrt(SQRT_EPS))


def as_count(n):
    """A (static int or dynamic scalar) size as float32."""
    return ops.cast(n, "float32")
