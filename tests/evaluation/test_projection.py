"""PCA against NumPy's SVD, perplexity calibration, and t-SNE beating PCA on its own objective."""

import numpy as np
import pytest

from sslhsic_tf.evaluation import pca, tsne
from sslhsic_tf.evaluation.projection import _squared_distances, conditional_affinities, kl_divergence


@pytest.mark.parametrize("shape", [(50, 6), (5, 12)])
def test_pca_matches_svd(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape) @ np.diag(np.linspace(3, 0.5, shape[1])) + 2.0
    projected, ratio, components, mean = pca(x, 2)
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    for i in range(2):
        sign = np.sign(vt[i] @ components[i])
        np.testing.assert_allclose(components[i], sign * vt[i], atol=1e-8)
        np.testing.assert_allclose(projected[:, i], sign * (x - x.mean(0)) @ vt[i], atol=1e-8)
    np.testing.assert_allclose(ratio, s[:2] ** 2 / np.sum(s ** 2), rtol=1e-8)
    np.testing.assert_allclose(mean, x.mean(0))
    assert all(c[np.argmax(np.abs(c))] > 0 for c in components)  # the sign convention
    with pytest.raises(ValueError, match="num_components"):
        pca(x, min(shape) + 1)


def test_affinities_hit_the_perplexity():
    x = np.random.default_rng(1).normal(size=(40, 5))
    p = conditional_affinities(_squared_distances(x), perplexity=7.0)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-10)
    assert np.all(np.diag(p) == 0)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=1)
    np.testing.assert_allclose(np.exp(entropy), 7.0, rtol=1e-4)


def test_tsne_separates_clusters_and_beats_pca_on_kl():
    rng = np.random.default_rng(2)
    labels = np.arange(60) % 3
    x = rng.normal(size=(3, 20))[labels] * 3 + rng.normal(size=(60, 20))
    y = tsne(x, perplexity=10.0, iterations=600)
    assert y.shape == (60, 2)
    np.testing.assert_array_equal(y, tsne(x, perplexity=10.0, iterations=600))  # deterministic
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert np.mean(labels[d.argmin(1)] == labels) >= 0.95
    p = pca(x, 2)[0]
    best_pca = min(kl_divergence(x, p / p[:, 0].std() * s, 10.0) for s in (1, 3, 10, 30))
    assert kl_divergence(x, y, 10.0) < 0.8 * best_pca


def test_tsne_bad_input():
    with pytest.raises(ValueError, match="perplexity"):
        tsne(np.random.default_rng(0).normal(size=(10, 3)), perplexity=10)
    with pytest.raises(ValueError, match="at most 5000"):
        tsne(np.zeros((5001, 2)))
    with pytest.raises(ValueError, match="features.*NaN"):
        tsne(np.full((10, 3), np.nan))
