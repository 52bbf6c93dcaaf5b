"""The learned-bandwidth objective: the mean log slope of the kernel w.r.t. the squared distance.

J(c) = mean_{pairs} log |dk_c/dd|, d = ||x - y||^2 between stop-gradient embeddings, to be
**maximised** over the bandwidth c only (objectives.md, "The kernel bandwidth c").

- imq:      log|dk/dd| = log(c/2) - 3/2 log(d + c^2); the maximiser satisfies
            c^2 mean[1/(d + c^2)] = 1/3, so c tracks the typical squared distance.
- gaussian: log|dk/dd| = -d/(2 s^2) - log(2 s^2); the maximiser is s^2 = mean[d] / 2.
- linear:   no bandwidth (ValueError).

Trainer use (log-parametrised, own optimiser, minimising -J):

    log_c = keras.Variable(0.0)             # c = 1 at init
    with tf.GradientTape() as tape:
        j = bandwidth_objective(views, ops.exp(log_c), num_points=1024, seed=step_seed)
        loss_c = -j
    grads = tape.gradient(loss_c, [log_c])  # only the bandwidth receives a gradient

and pass `ops.exp(log_c)` as `bandwidth` to `ssl_hsic_loss`, which stops its gradient.
"""

from keras import ops

from sslhsic_tf.objectives import _checks, kernels
from sslhsic_tf.objectives._numerics import as_count, l2_normalize
from sslhsic_tf.utils import random as rnd

_SLOPE_KERNELS = ("imq", "gaussian")


def log_kernel_slope(sq_dists, bandwidth, *, kernel="imq"):
    """Elementwise log|dk/dd| at squared distances `sq_dists` (any shape) for 'imq' or 'gaussian'."""
    kernel = _checks.check_kernel(kernel)
    if kernel not in _SLOPE_KERNELS:
        raise ValueError(f"kernel must be one of {_SLOPE_KERNELS} for the bandwidth objective; got {kernel!r}")
    c = _checks.positive_scalar(bandwidth, "bandwidth")
    d = _checks.to_float32(sq_dists, "sq_dists")
    c2 = c * c
    if kernel == "imq":
        return ops.log(0.5 * c) - 1.5 * ops.log(d + c2)
    return -d / (2.0 * c2) - ops.log(2.0 * c2)


def _points(views_or_points):
    shape = _checks.static_shape(views_or_points)
    spec = "[N, D] points or [M, B, D] views with N = M B >= 2"
    if shape is None or len(shape) not in (2, 3):
        got = "unknown rank" if shape is None else f"shape {shape}"
        raise ValueError(f"views_or_points must have shape {spec}; got {got}")
    if len(shape) == 3:
        _checks.check_rank3(views_or_points, "views_or_points", spec, min_views=1, min_batch=1)
        num = None if None in shape[:2] else shape[0] * shape[1]
    else:
        num = shape[0]
    if (num is not None and num < 2) or (shape[-1] is not None and shape[-1] < 1):
        raise ValueError(f"views_or_points must have shape {spec}; got shape {shape}")
    x = _checks.to_float32(views_or_points, "views_or_points")
    _checks.check_finite(x, "views_or_points")
    return ops.reshape(x, (-1, ops.shape(x)[-1]))


def bandwidth_objective(views_or_points, bandwidth, *, kernel="imq", num_points=1024, seed=None, normalize=True):
    """J(c): the mean log slope of the kernel over squared distances between embeddings.

    Args:
      views_or_points: `[M, B, D]` views (flattened to N = M B points) or `[N, D]` points; under
        stop-gradient here.
      bandwidth: c (imq) or s (gaussian): a positive float or scalar tensor, e.g. `exp(log_c)`;
        J is differentiable w.r.t. it.
      kernel: 'imq' or 'gaussian'.
      num_points: an int n: n points resampled uniformly with replacement are compared with n
        others (the reference's scheme), all n x n squared distances, leaving out the pairs that
        resampled the same point twice, so J is unbiased for the all-distinct-pairs mean (if every
        pair coincides, which needs N tiny and n tiny, J is 0 with zero gradient). None: the mean
        over all N (N - 1) ordered pairs of distinct points, O(N^2).
      seed: for the resampling (None / int / SeedGenerator / stateless `[2]` tensor).
      normalize: L2-normalise the points first (default True), as `ssl_hsic_loss` does before
        applying its kernel, so c is fitted to the distances that kernel sees.
    Returns:
      J, a float32 scalar (maximise it; minimise -J).
    """
    kernel = _checks.check_kernel(kernel)
    if kernel not in _SLOPE_KERNELS:
        raise ValueError(f"kernel must be one of {_SLOPE_KERNELS} for the bandwidth objective; got {kernel!r}")
    c = _checks.positive_scalar(bandwidth, "bandwidth")
    num_points = _checks.optional_positive_int(num_points, "num_points")
    seed = _checks.check_seed(seed)
    x = ops.stop_gradient(_points(views_or_points))
    if normalize:
        x = l2_normalize(x)
    if num_points is None:
        n = as_count(ops.shape(x)[0])
        slope = log_kernel_slope(kernels.squared_distances(x), c, kernel=kernel)
        off_diagonal = ops.sum(slope) - ops.sum(ops.diagonal(slope))
        return off_diagonal / (n * (n - 1.0))
    seed_a, seed_b = (None, None) if seed is None else rnd.split(seed, 2)
    total = ops.shape(x)[0]
    idx_a = rnd.randint((num_points,), seed_a, 0, total)
    idx_b = rnd.randint((num_points,), seed_b, 0, total)
    d = kernels.squared_distances(ops.take(x, idx_a, axis=0), ops.take(x, idx_b, axis=0))
    distinct = ops.cast(ops.not_equal(ops.expand_dims(idx_a, 1), ops.expand_dims(idx_b, 0)), "float32")
    slope = log_kernel_slope(d, c, kernel=kernel)
    return ops.sum(slope * distinct) / ops.maximum(ops.sum(distinct), 1.0)
