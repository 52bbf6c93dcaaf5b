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


# Two-part 2 pi (Cody-Waite): the high part has few mantissa bits, so k * _TWO_PI_HIGH is exact
# for the |k| random Fourier features reach (|x w| + b stays well under 2^10).
_TWO_PI_HIGH = 6.28125
_TWO_PI_LOW = 2.0 * math.pi - 6.28125
_COS_TAYLOR = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(11))  # up to r^20


def _cos_series(x):
    turns = ops.round(x * (1.0 / (2.0 * math.pi)))
    r = (x - turns * _TWO_PI_HIGH) - turns * _TWO_PI_LOW
    square = r * r
    out = ops.full_like(square, _COS_TAYLOR[-1])
    for coefficient in reversed(_COS_TAYLOR[:-1]):
        out = out * square + coefficient
    return out


@ops.custom_gradient
def polynomial_cos(x):
    """cos(x) in float32 from elementwise arithmetic: x reduced to r in [-pi, pi] by whole turns,
    then the Taylor series of cos to r^20 (truncation < 4e-9 on [-pi, pi]; measured max error
    3.6e-7 for |x| < 75, where float32's own spacing is 7.6e-6). The gradient is the backend's
    -sin(x), from x alone: autodiff through the series would keep its ten intermediate arrays
    for the backward pass, and the same series at x - pi/2 measured slower there than XLA's sin
    (benchmark below: 0.90 s against 0.65 s for the whole loss and gradient).

    Used where the backend's cos is slow (`utils.backend.slow_cos`): XLA on CPU evaluates cos
    at about 7 ns an element (113 ms for the 16.7M of the SSL-HSIC benchmark at B = 4096), this
    fuses into one vectorised loop (30 ms). SSL-HSIC loss + gradient at B = 4096, M = 4, D = 256,
    512 features (`benchmarks/objectives.py --backend both`): 0.79 s with XLA's cos, 0.65 s so,
    TensorFlow 0.68 s."""

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return -upstream * ops.sin(x)

    return _cos_series(x), grad
