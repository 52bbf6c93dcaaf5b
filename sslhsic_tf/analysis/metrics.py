"""Diagnostics of a representation, as pure functions of features (NumPy in, floats out).

Views are stacked views-first, `[M, B, D]` (view p of image i is `views[p, i]`); features of
labelled images are `[N, D]`. Every function computes in float64 NumPy, except the HSIC
estimators, which call the training objectives (`sslhsic_tf.objectives`, float32) so that the
diagnostic is the quantity SSL-HSIC optimises.

- `hsic_identity`: HSIC(Z, Y_identity) and HSIC(Z, Z) over augmented views, exact or with random
  features (mean and spread over draws), on L2-normalised views, and the SSL-HSIC loss they make.
- `label_cka`: HSIC between features and one-hot class labels, normalised (CKA; linear or IMQ
  kernel on the features, delta kernel on the labels).
- `infonce`: InfoNCE at a temperature on the same two views (the SSL-HSIC paper's relation).
- `alignment`, `uniformity` (Wang and Isola, 2020), `rankme` (Garrido et al., 2023).
"""

import math

import numpy as np


def _views(views, name="views"):
    v = np.asarray(views, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"{name} must be [M, B, D] with M >= 2 views of B >= 2 images; got shape "
                         f"{v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return v


def _features(features, name="features"):
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name} must be [N, D] with N >= 2; got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return f


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def alignment(views, alpha=2.0):
    """E ||f(x) - f(x+)||^alpha over positive pairs of L2-normalised views (lower: more invariant).

    Over every ordered pair of distinct views of the same image, averaged. `views`: `[M, B, D]`.
    """
    z = _unit(_views(views))
    m = z.shape[0]
    dists = [np.linalg.norm(z[p] - z[q], axis=-1) ** alpha
             for p in range(m) for q in range(m) if p != q]
    return float(np.mean(dists))


def uniformity(features, t=2.0):
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of L2-normalised features (lower: more
    uniform on the sphere). `features`: `[N, D]`."""
    z = _unit(_features(features))
    sq = np.maximum(2.0 - 2.0 * z @ z.T, 0.0)
    n = len(z)
    off = ~np.eye(n, dtype=bool)
    values = -t * sq[off]
    top = values.max()
    return float(top + np.log(np.mean(np.exp(values - top))))


def rankme(features, eps=1e-7):
    """RankMe: exp(entropy of the normalised singular values of the `[N, D]` feature matrix),
    between 1 and min(N, D) (Garrido et al., 2023; features as they are, not centred)."""
    s = np.linalg.svd(_features(features), compute_uv=False)
    p = s / (s.sum() + eps) + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def label_cka(features, labels, kernel="linear", bandwidth=None):
    """Centred kernel alignment between features and class labels, in [0, 1].

    CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with the biased estimator tr(K H L H) / N^2,
    K the feature kernel (linear on the features; "imq": c / sqrt(d + c^2) on L2-normalised
    features, c the median distance unless `bandwidth`), L the delta kernel on the labels.
    """
    f = _features(features)
    y = np.asarray(labels).reshape(-1)
    if y.shape[0] != f.shape[0]:
        raise ValueError(f"labels must have one entry per feature row: {y.shape[0]} labels for "
                         f"{f.shape[0]} features")
    if kernel == "linear":
        k = f @ f.T
    elif kernel == "imq":
        z = _unit(f)
        sq = np.maximum(2.0 - 2.0 * z @ z.T, 0.0)
        c = bandwidth or float(np.sqrt(np.median(sq[~np.eye(len(z), dtype=bool)])))
        k = c / np.sqrt(sq + c * c)
    else:
        raise ValueError(f"kernel must be 'linear' or 'imq'; got {kernel!r}")
    lab = (y[:, None] == y[None, :]).astype(np.float64)
    n = len(f)
    h = np.eye(n) - 1.0 / n
    kc, lc = h @ k @ h, h @ lab @ h
    hsic_kl, hsic_kk, hsic_ll = (kc * lc).sum(), (kc * kc).sum(), (lc * lc).sum()
    if hsic_kk <= 0 or hsic_ll <= 0:
        raise ValueError("label_cka needs features that vary and at least two classes")
    return float(hsic_kl / math.sqrt(hsic_kk * hsic_ll))


def infonce(views, temperature=0.1):
    """InfoNCE (SimCLR's NT-Xent, `objectives.infonce_loss`) over the first two views."""
    from sslhsic_tf import objectives

    v = _views(views)
    return float(objectives.infonce_loss(v[:2].astype(np.float32), temperature=temperature))


def hsic_identity(views, *, kernel="imq", bandwidth=1.0, gamma=3.0, num_features=None, draws=5,
                  seed=0):
    """HSIC(Z, Y_identity), HSIC(Z, Z) and the SSL-HSIC loss of `views` `[M, B, D]`.

    Exact kernels with `num_features=None` (O(N^2 D), N = M B), else random features (O(N F^2))
    averaged over `draws` independent draws, with their standard deviation as `*_std`. Also
    `hsic_zy_excess` = HSIC_ZY - 1/(M - 1), the part that measures dependence (0 for views
    independent of identity, up to O(1/N); and for a collapsed encoder).
    """
    from sslhsic_tf import objectives

    v = _views(views).astype(np.float32)
    m = v.shape[0]
    kw = dict(kernel=kernel, bandwidth=float(bandwidth), num_features=num_features)
    runs = []
    for d in range(1 if num_features is None else int(draws)):
        s = np.array([seed, d], np.int32)
        zy = float(objectives.hsic_zy(v, seed=s, **kw))
        zz = float(objectives.hsic_zz(v, seed=s, **kw))
        runs.append((zy, zz))
    zy, zz = np.array(runs).T
    out = {"hsic_zy": float(zy.mean()), "hsic_zz": float(zz.mean()),
           "hsic_zy_excess": float(zy.mean() - 1.0 / (m - 1)),
           "ssl_hsic_loss": float(gamma * math.sqrt(max(zz.mean(), 0.0)) - zy.mean()),
           "estimator": "exact" if num_features is None else f"{num_features} random features",
           "kernel": kernel, "bandwidth": float(bandwidth), "num_lists": m}
    if num_features is not None:
        out.update({"hsic_zy_std": float(zy.std(ddof=1)) if len(zy) > 1 else 0.0,
                    "hsic_zz_std": float(zz.std(ddof=1)) if len(zz) > 1 else 0.0,
                    "draws": int(draws)})
    return out
