"""2-D maps of embeddings: PCA and an exact (O(N^2)) t-SNE, in NumPy.

`tsne` follows van der Maaten & Hinton (2008): Gaussian conditional affinities calibrated to a
perplexity by bisection, symmetrised joint P, Student-t Q, gradient
4 Σ_j (p_ij − q_ij)(y_i − y_j)/(1 + |y_i − y_j|²), early exaggeration, momentum and per-
parameter gains, and a PCA initialisation (deterministic). Exact, so meant for a few thousand
points at most.
"""

import numpy as np

from sslhsic_tf.evaluation._checks import check_features, check_positive_float, check_positive_int

MAX_TSNE_POINTS = 5000


def pca(features, num_components=2):
    """Principal components of `features [N, F]`.

    Returns `(projected [N, k], explained_variance_ratio [k], components [k, F], mean [F])`;
    each component's sign makes its largest-magnitude loading positive (deterministic).
    """
    x = check_features(features, "features", np.float64)
    num_components = check_positive_int(num_components, "num_components")
    if num_components > min(x.shape):
        raise ValueError(
            f"`num_components`={num_components} exceeds min(N, F) = {min(x.shape)} of `features` {x.shape}"
        )
    mean = x.mean(axis=0)
    centred = x - mean
    if x.shape[1] <= x.shape[0]:
        variances, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(variances)[::-1]
        variances, components = np.maximum(variances[order], 0.0), vectors[:, order].T
    else:
        _, singular, components = np.linalg.svd(centred, full_matrices=False)
        variances = singular ** 2
    components = components[:num_components]
    signs = np.sign(components[np.arange(num_components), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = variances.sum()
    ratio = variances[:num_components] / total if total > 0 else np.zeros(num_components)
    return centred @ components.T, ratio, components, mean


def _squared_distances(x):
    sq = np.sum(x * x, axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d, 0.0)
    return np.maximum(d, 0.0)


def conditional_affinities(squared_distances, perplexity, iterations=64):
    """Rows p_{j|i} ∝ exp(−β_i d_ij) (p_{i|i} = 0) with entropy log(perplexity), by bisection on log β_i."""
    n = squared_distances.shape[0]
    target = np.log(perplexity)
    d = squared_distances / max(np.median(squared_distances[squared_distances > 0]), 1e-12)  # unit scale
    low, high = np.full(n, -50.0), np.full(n, 50.0)
    off_diagonal = ~np.eye(n, dtype=bool)
    for _ in range(iterations):
        log_beta = 0.5 * (low + high)
        logits = -np.exp(log_beta)[:, None] * d
        logits = np.where(off_diagonal, logits, -np.inf)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
        too_flat = entropy > target  # entropy falls as beta grows
        low = np.where(too_flat, log_beta, low)
        high = np.where(too_flat, high, log_beta)
    return p


def tsne(
    features,
    num_components=2,
    perplexity=30.0,
    iterations=1000,
    early_exaggeration=12.0,
    exaggeration_iterations=250,
    learning_rate="auto",
    pca_dims=50,
):
    """Exact t-SNE embedding `[N, num_components]` of `features [N, F]` (N <= 5000).

    Args:
      perplexity: effective number of neighbours; must be < N.
      iterations: gradient steps in total (the first `exaggeration_iterations` with P scaled by
        `early_exaggeration` and momentum 0.5, then momentum 0.8).
      learning_rate: "auto" = max(N / early_exaggeration / 4, 50), or a number.
      pca_dims: features are first reduced to this many principal components (if larger).
    """
    x = check_features(features, "features", np.float64)
    n = x.shape[0]
    if n > MAX_TSNE_POINTS:
        raise ValueError(f"`features` has {n} rows; exact t-SNE takes at most {MAX_TSNE_POINTS} (subsample)")
    perplexity = check_positive_float(perplexity, "perplexity")
    if not perplexity < n:
        raise ValueError(f"`perplexity` must be smaller than the number of points {n}; got {perplexity}")
    iterations = check_positive_int(iterations, "iterations")
    num_components = check_positive_int(num_components, "num_components")
    if x.shape[1] > pca_dims and n > pca_dims:
        x = pca(x, pca_dims)[0]
    p = conditional_affinities(_squared_distances(x), perplexity)
    p = np.maximum((p + p.T) / (2.0 * n), 1e-12)
    if learning_rate == "auto":
        learning_rate = max(n / early_exaggeration / 4.0, 50.0)
    learning_rate = check_positive_float(learning_rate, "learning_rate")

    init = pca(x, min(num_components, *x.shape))[0]
    if init.shape[1] < num_components:
        init = np.pad(init, ((0, 0), (0, num_components - init.shape[1])))
    # The descent runs in float32 (3x faster than float64 here, ample for a picture).
    p = p.astype(np.float32)
    y = (init / max(np.std(init[:, 0]), 1e-12) * 1e-4).astype(np.float32)
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    for step in range(iterations):
        exaggerate = step < exaggeration_iterations
        momentum = 0.5 if exaggerate else 0.8
        kernel = _squared_distances(y)
        kernel += 1.0
        np.reciprocal(kernel, out=kernel)  # Student-t numerators 1 / (1 + |y_i - y_j|^2)
        np.fill_diagonal(kernel, 0.0)
        # (p_ij - q_ij) * kernel_ij with q_ij = kernel_ij / sum(kernel).
        weights = (early_exaggeration * p if exaggerate else p) - kernel / kernel.sum()
        weights *= kernel
        gradient = 4.0 * (weights.sum(axis=1)[:, None] * y - weights @ y)
        same_sign = np.sign(gradient) == np.sign(velocity)
        gains = np.maximum(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01).astype(np.float32)
        velocity = momentum * velocity - learning_rate * gains * gradient
        y = y + velocity
        y -= y.mean(axis=0)
    return y.astype(np.float64)


def kl_divergence(features, embedding, perplexity=30.0):
    """KL(P || Q) of an embedding under t-SNE's P (for checking an embedding; O(N^2))."""
    x = check_features(features, "features", np.float64)
    y = check_features(embedding, "embedding", np.float64)
    n = x.shape[0]
    p = conditional_affinities(_squared_distances(x), perplexity)
    p = np.maximum((p + p.T) / (2.0 * n), 1e-12)
    kernel = 1.0 / (1.0 + _squared_distances(y))
    np.fill_diagonal(kernel, 0.0)
    q = np.maximum(kernel / kernel.sum(), 1e-12)
    mask = ~np.eye(n, dtype=bool)
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
