"""SSL-HSIC: HSIC(Z, Y), HSIC(Z, Z) and the loss L = gamma sqrt(HSIC_ZZ) - HSIC_ZY.

Views are stacked views-first, `views` `[M, B, D]` (view p of image i is `views[p, i]`), N = M B
points, each L2-normalised here. Every function has two estimators:

- `num_features=None`: exact kernel matrices, O(N^2 D) time, O(N^2) memory.
- `num_features=F` (int): random Fourier features (`kernels.py`), O(N F D + N F^2) time, O(N F)
  memory. HSIC(Z, Y) uses one draw Phi_1; HSIC(Z, Z) uses two independent draws Phi_1, Phi_2
  (Phi_1 shared with HSIC(Z, Y)). Both are unbiased for their exact counterparts. For the
  'linear' kernel the feature map is the identity, so this path is exact (and linear in N).

`seed` (None, int, `keras.random.SeedGenerator`, or a stateless `[2]` int tensor; see
`sslhsic_tf.utils.random`) fixes the draws: with the same int or stateless seed, `hsic_zy`,
`hsic_zz` and `ssl_hsic_loss` use the same Phi_1 (and Phi_2). None draws afresh on every call
(not allowed inside `jax.jit`).

`bandwidth` (c for 'imq', s for 'gaussian') may be a Python float or a scalar tensor such as the
trainer's learned variable; it enters under stop-gradient: the SSL loss never moves it (its own
objective is `bandwidth.bandwidth_objective`).

Validation: shapes are checked statically (also while tracing); NaN/inf in the views raise for
concrete (NumPy / eager) inputs only and are not checked inside traced functions.
"""

from keras import ops

from sslhsic_tf.objectives import _checks, kernels
from sslhsic_tf.objectives._numerics import as_count, guarded_sqrt, l2_normalize
from sslhsic_tf.utils import random as rnd


def _prepare(views, kernel, bandwidth, num_features, seed):
    kernel = _checks.check_kernel(kernel)
    num_features = _checks.optional_positive_int(num_features, "num_features")
    c = _checks.positive_scalar(bandwidth, "bandwidth")  # validated even where unused (linear)
    if kernel == "linear":
        c = 1.0
    elif not isinstance(c, float):
        c = ops.stop_gradient(c)
    seed = _checks.check_seed(seed)
    z = l2_normalize(_checks.views_float32(views, "views"))
    return z, kernel, c, num_features, seed


def _feature_draws(z, kernel, c, num_features, seed, num_draws):
    """Phi_1 (and Phi_2) as `[N, F]`; the identity map `[N, D]` for the linear kernel."""
    flat = ops.reshape(z, (-1, ops.shape(z)[-1]))
    if kernel == "linear":
        return [flat] * num_draws
    seeds = [None, None] if seed is None else rnd.split(seed, 2)
    return kernels.fourier_features(flat, kernel, c, num_features, seeds[:num_draws])


def _sizes(z):
    shape = ops.shape(z)
    m, b = as_count(shape[0]), as_count(shape[1])
    return m, b, m * b


# ---------------------------------------------------------------- estimators on prepared inputs


def _exact_zy(z, kernel, c, gram_all):
    m, b, n = _sizes(z)
    per_image = kernels.kernel_matrix(ops.transpose(z, (1, 0, 2)), kernel=kernel, bandwidth=c)  # [B, M, M]
    positives = ops.sum(per_image) - ops.sum(ops.diagonal(per_image, axis1=1, axis2=2))
    return positives / (b * m * (m - 1.0)) - ops.sum(gram_all) / (n * n) + 1.0 / (m - 1.0)


def _exact_zz(z, gram_all):
    _, _, n = _sizes(z)
    centred = (
        gram_all
        - ops.mean(gram_all, axis=0, keepdims=True)
        - ops.mean(gram_all, axis=1, keepdims=True)
        + ops.mean(gram_all)
    )
    return ops.sum(ops.square(centred)) / (n * n)


def _features_zy(z, phi):
    m, b, n = _sizes(z)
    per_view = ops.reshape(phi, (ops.shape(z)[0], ops.shape(z)[1], ops.shape(phi)[-1]))  # [M, B, F]
    per_image = ops.sum(per_view, axis=0)  # [B, F]
    total = ops.sum(per_image, axis=0)  # [F]
    return ops.sum(ops.square(per_image)) / (b * m * (m - 1.0)) - ops.sum(ops.square(total)) / (n * n)


def _features_zz(z, phi1, phi2):
    _, _, n = _sizes(z)
    c1 = phi1 - ops.mean(phi1, axis=0, keepdims=True)
    c2 = phi2 - ops.mean(phi2, axis=0, keepdims=True)
    cross = ops.matmul(ops.transpose(c1), c2)  # [F, F]: O(N F^2), the dominant cost
    return ops.sum(ops.square(cross)) / (n * n)


def _all_pairs_gram(z, kernel, c):
    flat = ops.reshape(z, (-1, ops.shape(z)[-1]))
    return kernels.kernel_matrix(flat, kernel=kernel, bandwidth=c)  # [N, N]


# ---------------------------------------------------------------- public API


def hsic_zy(views, *, kernel="imq", bandwidth=1.0, num_features=512, seed=None):
    """HSIC between representations and image identity, as the reference estimates it.

    Exact (`num_features=None`), with K the kernel over all N points:
      HSIC_ZY = 1/(B M (M-1)) sum_i sum_{p != l} k(z_i^p, z_i^l) - 1/N^2 sum_{all pairs} K + 1/(M-1).
    Features: 1/(B M (M-1)) sum_i ||sum_p phi(z_i^p)||^2 - 1/N^2 ||sum_{i,p} phi(z_i^p)||^2, whose
    p = l terms estimate the constant 1/(M-1).

    The constant 1/(M-1) comes from the reference: collapse (all views equal) gives exactly
    1/(M-1), and views drawn independently of image identity give 1/(M-1) - (1 - E k)/N + noise,
    i.e. 1/(M-1) up to O(1/N) in expectation; only HSIC_ZY - 1/(M-1) measures dependence.

    Args:
      views: `[M, B, D]`, M >= 2, B >= 2; any float dtype (computed in float32).
      kernel: 'imq', 'gaussian' or 'linear'.
      bandwidth: positive float or scalar tensor (stop-gradient inside).
      num_features: None (exact) or F > 0.
      seed: see the module docstring.
    Returns:
      float32 scalar.
    """
    z, kernel, c, num_features, seed = _prepare(views, kernel, bandwidth, num_features, seed)
    if num_features is None:
        return _exact_zy(z, kernel, c, _all_pairs_gram(z, kernel, c))
    (phi1,) = _feature_draws(z, kernel, c, num_features, seed, 1)
    return _features_zy(z, phi1)


def hsic_zz(views, *, kernel="imq", bandwidth=1.0, num_features=512, seed=None):
    """The kernel-variance regulariser: the biased V-statistic HSIC_ZZ = tr(K H K H) / N^2.

    K is the kernel matrix over all N = M B points and H = I - 11^T / N. Features: with two
    independent draws, each centred by its column mean over the N points,
    ||Phi_1c^T Phi_2c||_F^2 / N^2, unbiased for the V-statistic; O(N F^2). Always >= 0.

    Args and returns as `hsic_zy`.
    """
    z, kernel, c, num_features, seed = _prepare(views, kernel, bandwidth, num_features, seed)
    if num_features is None:
        return _exact_zz(z, _all_pairs_gram(z, kernel, c))
    phi1, phi2 = _feature_draws(z, kernel, c, num_features, seed, 2)
    return _features_zz(z, phi1, phi2)


def ssl_hsic_loss(views, *, kernel="imq", bandwidth=1.0, gamma=3.0, num_features=512, seed=None):
    """The SSL-HSIC loss L = gamma sqrt(HSIC_ZZ) - HSIC_ZY over views `[M, B, D]`.

    The sqrt is guarded (`_numerics.guarded_sqrt`: exact above 1e-12, linear below), so value and
    gradient are finite at HSIC_ZZ = 0. Collapse gives L = -1/(M-1) (exact estimator).

    Args:
      views: `[M, B, D]` (global batch), any float dtype; L2-normalised here.
      kernel: 'imq' (default), 'gaussian' or 'linear'.
      bandwidth: positive float or scalar tensor, treated as a constant (stop-gradient).
      gamma: weight of sqrt(HSIC_ZZ), a number >= 0 (3 in the reference).
      num_features: None for exact O(N^2) estimators, or the number F of random features.
      seed: None / int / SeedGenerator / stateless `[2]` tensor; see the module docstring.
    Returns:
      dict of float32 scalars: `loss`, `hsic_zy`, `hsic_zz`.
    """
    gamma = _checks.nonnegative_number(gamma, "gamma")
    z, kernel, c, num_features, seed = _prepare(views, kernel, bandwidth, num_features, seed)
    if num_features is None:
        gram_all = _all_pairs_gram(z, kernel, c)
        zy, zz = _exact_zy(z, kernel, c, gram_all), _exact_zz(z, gram_all)
    else:
        phi1, phi2 = _feature_draws(z, kernel, c, num_features, seed, 2)
        zy, zz = _features_zy(z, phi1), _features_zz(z, phi1, phi2)
    return {"loss": gamma * guarded_sqrt(zz) - zy, "hsic_zy": zy, "hsic_zz": zz}
