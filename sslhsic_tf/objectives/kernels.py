"""Kernels on representations and their random Fourier feature maps (keras.ops, float32).

Kernels (objectives.md, "Kernels on representations"), with d = ||x - y||^2:
- "imq":      k_c(x, y) = c / sqrt(d + c^2)      (k(x, x) = 1; the SSL-HSIC paper's choice)
- "gaussian": k_s(x, y) = exp(-d / (2 s^2))
- "linear":   k(x, y) = x^T y                    (no bandwidth)

Random Fourier features: phi(x) = sqrt(2/F) cos(W^T x + b) with W `[D, F]`, b ~ U[0, 2 pi)^F, so that
E[phi(x)^T phi(y)] = k(x, y). Frequencies (columns of W):
- gaussian: w ~ N(0, I / s^2);
- imq: w = |n| g / c with n ~ N(0, 1), g ~ N(0, I_D): the IMQ kernel is the Gaussian scale mixture
  (1 + t)^(-1/2) = E_s[exp(-s t / 2)], s ~ chi^2_1, so this samples its spectral density exactly.
- linear: the feature map is the identity, phi(x) = x, which is exact; `random_features` returns
  `x` unchanged (width D, not F) and draws nothing.
"""

import math

from keras import ops

from sslhsic_tf.objectives import _checks, _numerics
from sslhsic_tf.utils import backend
from sslhsic_tf.utils import random as rnd


def _tensor(x, name, min_rank=2):
    x = _checks.to_float32(x, name)
    shape = _checks.static_shape(x)
    if shape is None or len(shape) < min_rank:
        raise ValueError(f"{name} must have shape [..., N, D] (rank >= {min_rank}); got shape {shape}")
    return x


def squared_distances(x, y=None):
    """Pairwise squared Euclidean distances.

    Args:
      x: `[..., N, D]`.
      y: `[..., K, D]`, or None for `y = x` (then the diagonal is exactly 0).
    Returns:
      `[..., N, K]` float32, clamped at 0 against round-off.
    """
    x = _tensor(x, "x")
    if y is None:
        gram = ops.matmul(x, ops.swapaxes(x, -1, -2))
        sq = ops.diagonal(gram, axis1=-2, axis2=-1)
        d = ops.expand_dims(sq, -1) + ops.expand_dims(sq, -2) - 2.0 * gram
    else:
        y = _tensor(y, "y")
        sx = ops.sum(ops.square(x), axis=-1)
        sy = ops.sum(ops.square(y), axis=-1)
        d = ops.expand_dims(sx, -1) + ops.expand_dims(sy, -2) - 2.0 * ops.matmul(x, ops.swapaxes(y, -1, -2))
    return ops.maximum(d, 0.0)


def kernel_from_squared_distances(sq_dists, *, kernel="imq", bandwidth=1.0):
    """k as a function of d = ||x - y||^2 for the distance kernels ('imq', 'gaussian')."""
    kernel = _checks.check_kernel(kernel)
    if kernel == "linear":
        raise ValueError("kernel 'linear' is not a function of the squared distance; use linear_kernel")
    c = _checks.positive_scalar(bandwidth, "bandwidth")
    d = _checks.to_float32(sq_dists, "sq_dists")
    if kernel == "imq":
        return c * ops.rsqrt(d + c * c)
    return ops.exp(-d / (2.0 * c * c))


def imq_kernel(x, y=None, bandwidth=1.0):
    """IMQ kernel matrix c / sqrt(||x_i - y_j||^2 + c^2): `[..., N, D]`, `[..., K, D]` -> `[..., N, K]`."""
    return kernel_from_squared_distances(squared_distances(x, y), kernel="imq", bandwidth=bandwidth)


def gaussian_kernel(x, y=None, bandwidth=1.0):
    """Gaussian kernel matrix exp(-||x_i - y_j||^2 / (2 s^2)), s = bandwidth: `[..., N, K]`."""
    return kernel_from_squared_distances(squared_distances(x, y), kernel="gaussian", bandwidth=bandwidth)


def linear_kernel(x, y=None):
    """Linear kernel matrix x_i^T y_j: `[..., N, D]`, `[..., K, D]` -> `[..., N, K]`."""
    x = _tensor(x, "x")
    y = x if y is None else _tensor(y, "y")
    return ops.matmul(x, ops.swapaxes(y, -1, -2))


def kernel_matrix(x, y=None, *, kernel="imq", bandwidth=1.0):
    """Kernel matrix `[..., N, K]` of `kernel` ('imq', 'gaussian', 'linear'; bandwidth unused for linear)."""
    kernel = _checks.check_kernel(kernel)
    if kernel == "linear":
        return linear_kernel(x, y)
    return kernel_from_squared_distances(squared_distances(x, y), kernel=kernel, bandwidth=bandwidth)


def _subseeds(seed, num):
    """`num` independent seeds from `seed`; None stays None (fresh draws from Keras' global generator)."""
    if seed is None:
        return [None] * num
    return rnd.split(seed, num)


def _frequencies(dim, num_features, kernel, c, seed):
    seed_scale, seed_dir = _subseeds(seed, 2)
    w = rnd.normal((dim, num_features), seed=seed_dir)
    if kernel == "imq":
        w = ops.abs(rnd.normal((1, num_features), seed=seed_scale)) * w
    return w / c


def sample_frequencies(dim, num_features, *, kernel="imq", bandwidth=1.0, seed=None):
    """Draws the random Fourier frequencies W `[D, F]` of `kernel` (columns are frequencies).

    For 'imq' a column is |n| g / c (n ~ N(0, 1), g ~ N(0, I_D)): its norm, the spectral radius,
    has for D = 256, c = 1 mean ~12.75, median ~10.76 and 99th percentile ~41.4. For 'gaussian'
    a column is g / s. 'linear' has no frequencies (its feature map is the identity): ValueError.
    """
    kernel = _checks.check_kernel(kernel)
    if kernel == "linear":
        raise ValueError("kernel 'linear' has no random frequencies: its feature map is the identity")
    dim = _checks.optional_positive_int(dim, "dim")
    num_features = _checks.optional_positive_int(num_features, "num_features")
    if dim is None or num_features is None:
        raise ValueError("dim and num_features must be ints > 0; got None")
    c = _checks.positive_scalar(bandwidth, "bandwidth")
    return _frequencies(dim, num_features, kernel, c, _checks.check_seed(seed))


def fourier_features(x, kernel, c, num_features, seeds):
    """One feature draw per seed, computed with a single matmul (internal; no validation).

    Args:
      x: `[N, D]` float32.
      seeds: list of seeds; draw j uses `seeds[j]` only, so `random_features(x, seed=s)` equals
        the draw made here with `s`.
    Returns:
      list of `[N, F]` tensors, sqrt(2/F) cos(x W_j + b_j).
    """
    dim = _checks.static_shape(x)[-1]
    if dim is None:
        raise ValueError("the feature dimension D of the views must be known statically")
    ws, bs = [], []
    for seed in seeds:
        seed_w, seed_b = _subseeds(seed, 2)
        ws.append(_frequencies(dim, num_features, kernel, c, seed_w))
        bs.append(rnd.uniform((num_features,), seed=seed_b, minval=0.0, maxval=2.0 * math.pi))
    w = ws[0] if len(ws) == 1 else ops.concatenate(ws, axis=1)
    b = bs[0] if len(bs) == 1 else ops.concatenate(bs, axis=0)
    cos = _numerics.polynomial_cos if backend.slow_cos() else ops.cos
    phi = math.sqrt(2.0 / num_features) * cos(ops.matmul(x, w) + b)
    if len(seeds) == 1:
        return [phi]
    # split (gradient: one concat) rather than slices (gradient: zero-padded copies summed).
    return ops.split(phi, len(seeds), axis=1)


def random_features(x, *, kernel="imq", bandwidth=1.0, num_features=512, seed=None):
    """Random Fourier features phi(x) = sqrt(2/F) cos(x W + b) with E[phi(x)^T phi(y)] = k(x, y).

    Args:
      x: `[N, D]` points.
      kernel: 'imq', 'gaussian' or 'linear' (identity map: returns `x` as float32, `[N, D]`, exact,
        whatever `num_features` says).
      bandwidth: c (imq) or s (gaussian), a positive float or scalar tensor.
      num_features: F, an int > 0.
      seed: None (fresh draw), int, `keras.random.SeedGenerator` or stateless `[2]` int tensor.
    Returns:
      `[N, F]` float32.
    """
    kernel = _checks.check_kernel(kernel)
    shape = _checks.static_shape(x)
    if shape is None or len(shape) != 2:
        raise ValueError(f"x must have shape [N, D]; got shape {shape}")
    x = _checks.to_float32(x, "x")
    if kernel == "linear":
        return x
    num_features = _checks.optional_positive_int(num_features, "num_features")
    if num_features is None:
        raise ValueError("num_features must be an int > 0 for random features; got None")
    c = _checks.positive_scalar(bandwidth, "bandwidth")
    return fourier_features(x, kernel, c, num_features, [_checks.check_seed(seed)])[0]
