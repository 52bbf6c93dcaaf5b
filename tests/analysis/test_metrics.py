"""`sslhsic_tf.analysis.metrics` against direct NumPy computations on small inputs."""

import math

import numpy as np
import pytest

from sslhsic_tf import analysis

RNG = np.random.default_rng(0)
VIEWS = RNG.normal(size=(2, 12, 5))
LABELS = np.arange(12) % 3


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_alignment_and_uniformity_by_their_definitions():
    z = _unit(VIEWS)
    expected = np.mean(np.sum((z[0] - z[1]) ** 2, axis=-1))
    assert analysis.alignment(VIEWS) == pytest.approx(expected, rel=1e-9)
    f = z[0]
    pairs = [math.exp(-2 * np.sum((f[i] - f[j]) ** 2)) for i in range(12) for j in range(12) if i != j]
    assert analysis.uniformity(VIEWS[0]) == pytest.approx(math.log(np.mean(pairs)), rel=1e-9)
    # Identical views are perfectly aligned.
    assert analysis.alignment(np.stack([VIEWS[0], VIEWS[0]])) == pytest.approx(0.0, abs=1e-12)


def test_rankme_counts_effective_dimensions():
    s = np.linalg.svd(VIEWS[0], compute_uv=False)
    p = s / s.sum()
    assert analysis.rankme(VIEWS[0], eps=0.0) == pytest.approx(math.exp(-(p * np.log(p)).sum()),
                                                               rel=1e-6)
    rank_one = np.outer(RNG.normal(size=12), RNG.normal(size=5))
    assert analysis.rankme(rank_one) == pytest.approx(1.0, abs=1e-3)


def test_label_cka_by_its_definition_and_its_extremes():
    f = VIEWS[0]
    n = len(f)
    h = np.eye(n) - 1 / n
    k, lab = f @ f.T, (LABELS[:, None] == LABELS[None, :]).astype(float)
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    expected = hsic(k, lab) / math.sqrt(hsic(k, k) * hsic(lab, lab))
    assert analysis.label_cka(f, LABELS) == pytest.approx(expected, rel=1e-9)
    one_hot = np.eye(3)[LABELS]
    assert analysis.label_cka(one_hot, LABELS) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 <= analysis.label_cka(f, LABELS, kernel="imq") <= 1.0


def test_hsic_identity_exact_against_numpy_and_features_within_their_spread():
    z = _unit(VIEWS).reshape(-1, 5)
    n, m, b = 24, 2, 12
    sq = np.sum((z[:, None] - z[None]) ** 2, axis=-1)
    k = 1.0 / np.sqrt(sq + 1.0)  # IMQ, c = 1
    ids = np.tile(np.arange(b), m)
    same = (ids[:, None] == ids[None]) & ~np.eye(n, dtype=bool)
    zy = k[same].sum() / (b * m * (m - 1)) - k.mean() + 1 / (m - 1)
    h = np.eye(n) - 1 / n
    zz = np.trace(k @ h @ k @ h) / n ** 2
    exact = analysis.hsic_identity(VIEWS)
    assert exact["hsic_zy"] == pytest.approx(zy, rel=1e-4)
    assert exact["hsic_zz"] == pytest.approx(zz, rel=1e-4)
    assert exact["hsic_zy_excess"] == pytest.approx(zy - 1.0, rel=1e-4, abs=1e-6)
    assert exact["ssl_hsic_loss"] == pytest.approx(3 * math.sqrt(zz) - zy, rel=1e-4)
    approx = analysis.hsic_identity(VIEWS, num_features=2048, draws=8)
    for key in ("hsic_zy", "hsic_zz"):
        # The mean of 8 draws is within 4 standard errors of the exact value.
        assert abs(approx[key] - exact[key]) <= 4 * approx[f"{key}_std"] / math.sqrt(8) + 1e-3, key


def test_infonce_matches_numpy():
    z = _unit(VIEWS).reshape(-1, 5)
    logits = z @ z.T / 0.5
    np.fill_diagonal(logits, -np.inf)
    positive = np.concatenate([np.arange(12, 24), np.arange(12)])
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -np.mean(log_softmax[np.arange(24), positive])
    assert analysis.infonce(VIEWS, temperature=0.5) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: analysis.alignment(VIEWS[0]), r"views must be \[M, B, D\] .*got shape \(12, 5\)"),
    (lambda: analysis.label_cka(VIEWS[0], LABELS[:5]), "5 labels for 12 features"),
    (lambda: analysis.rankme(np.full((3, 2), np.nan)), "NaN or infinite"),
    (lambda: analysis.label_cka(VIEWS[0], LABELS, kernel="rbf"), "'linear' or 'imq'"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
