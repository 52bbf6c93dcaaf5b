"""SSL-HSIC estimators: exact against loops, features unbiased, invariances, collapse, seeds, gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O
from tests.objectives import numpy_reference as ref


def _views(seed, m=3, b=5, d=4):
    return np.random.default_rng(seed).normal(size=(m, b, d)).astype(np.float32)


def _floats(out):
    return {k: float(v) for k, v in out.items()}


@pytest.mark.parametrize("name,c", [("imq", 1.0), ("imq", 0.3), ("gaussian", 0.6), ("linear", 1.0)])
def test_exact_estimators_match_loops(name, c):
    v = _views(0)
    got = _floats(O.ssl_hsic_loss(v, kernel=name, bandwidth=c, gamma=2.0, num_features=None))
    loss, zy, zz = ref.ssl_hsic(v, name, c, gamma=2.0)
    assert got["hsic_zy"] == pytest.approx(zy, abs=2e-6)
    assert got["hsic_zz"] == pytest.approx(zz, rel=1e-4, abs=1e-7)
    assert got["loss"] == pytest.approx(loss, abs=1e-5)
    # The stand-alone estimators agree with the loss's parts.
    assert float(O.hsic_zy(v, kernel=name, bandwidth=c, num_features=None)) == pytest.approx(zy, abs=2e-6)
    assert float(O.hsic_zz(v, kernel=name, bandwidth=c, num_features=None)) == pytest.approx(zz, rel=1e-4, abs=1e-7)


def test_linear_features_are_exact():
    v = _views(1)
    exact = _floats(O.ssl_hsic_loss(v, kernel="linear", num_features=None))
    feats = _floats(O.ssl_hsic_loss(v, kernel="linear", num_features=8, seed=0))
    for k in exact:
        assert feats[k] == pytest.approx(exact[k], abs=1e-5)


@pytest.mark.parametrize("name", ["imq", "gaussian"])
def test_feature_estimators_unbiased_and_error_like_one_over_sqrt_f(name):
    v = _views(2, m=2, b=6, d=3)
    exact = _floats(O.ssl_hsic_loss(v, kernel=name, bandwidth=0.8, num_features=None))

    def draws(f, n):
        fn = tf.function(lambda s: O.ssl_hsic_loss(v, kernel=name, bandwidth=0.8, num_features=f, seed=s))
        out = [fn(tf.constant([s, 17], tf.int32)) for s in range(n)]
        return {k: np.array([float(o[k]) for o in out]) for k in ("hsic_zy", "hsic_zz")}

    small, large = draws(64, 400), draws(1024, 400)
    for k in ("hsic_zy", "hsic_zz"):
        se = small[k].std() / math.sqrt(len(small[k]))
        assert abs(small[k].mean() - exact[k]) < 4 * se, k
        ratio = np.sqrt(np.mean((small[k] - exact[k]) ** 2)) / np.sqrt(np.mean((large[k] - exact[k]) ** 2))
        assert 3.3 < ratio < 4.8, (k, ratio)


def test_seeded_draws_are_shared_between_functions():
    v = _views(3)
    seed = tf.constant([5, 6], tf.int32)
    out = _floats(O.ssl_hsic_loss(v, num_features=32, seed=seed))
    assert float(O.hsic_zy(v, num_features=32, seed=seed)) == pytest.approx(out["hsic_zy"], abs=1e-7)
    assert float(O.hsic_zz(v, num_features=32, seed=seed)) == pytest.approx(out["hsic_zz"], abs=1e-7)
    assert _floats(O.ssl_hsic_loss(v, num_features=32, seed=11)) == _floats(O.ssl_hsic_loss(v, num_features=32, seed=11))
    assert _floats(O.ssl_hsic_loss(v, num_features=32)) != _floats(O.ssl_hsic_loss(v, num_features=32))


def test_independent_views_give_the_constant_dependent_views_exceed_it():
    rng = np.random.default_rng(4)
    m, b, d = 2, 256, 64
    n = m * b
    independent = rng.normal(size=(m, b, d)).astype(np.float32)
    zy = float(O.hsic_zy(independent, num_features=None))
    # E[HSIC_ZY] - 1/(M-1) = -(1 - E k)/N for independent views; the noise is of the same order.
    assert abs(zy - 1.0 / (m - 1)) < 3.0 / n
    base = rng.normal(size=(1, b, d))
    dependent = (base + 0.3 * rng.normal(size=(m, b, d))).astype(np.float32)
    assert float(O.hsic_zy(dependent, num_features=None)) - 1.0 / (m - 1) > 0.1
    feat = float(O.hsic_zy(dependent, num_features=512, seed=0))
    assert feat - 1.0 / (m - 1) > 0.1


@pytest.mark.parametrize("num_features", [None, 64])
def test_permuting_images_and_swapping_views_leaves_loss_unchanged(num_features):
    v = _views(5, m=4, b=6, d=5)
    kw = dict(num_features=num_features, seed=3)
    base = _floats(O.ssl_hsic_loss(v, **kw))
    perm = np.random.default_rng(0).permutation(6)
    for other in (v[:, perm], v[::-1], v[[2, 0, 3, 1]]):
        got = _floats(O.ssl_hsic_loss(np.ascontiguousarray(other), **kw))
        for k in base:
            assert got[k] == pytest.approx(base[k], abs=2e-6), k


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("name", ["imq", "gaussian", "linear"])
def test_collapse_gives_minus_one_over_m_minus_one_with_finite_gradients(m, name):
    v = tf.Variable(np.tile(np.array([[[0.3, -1.2, 0.5]]], np.float32), (m, 4, 1)))
    with tf.GradientTape() as tape:
        out = O.ssl_hsic_loss(v, kernel=name, num_features=None)
    grad = tape.gradient(out["loss"], v)
    assert float(out["loss"]) == pytest.approx(-1.0 / (m - 1), abs=1e-6)
    assert float(out["hsic_zy"]) == pytest.approx(1.0 / (m - 1), abs=1e-6)
    assert float(out["hsic_zz"]) == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(grad.numpy()))
    with tf.GradientTape() as tape:
        out = O.ssl_hsic_loss(v, kernel=name, num_features=64, seed=0)
    grad = tape.gradient(out["loss"], v)
    assert np.isfinite(float(out["loss"])) and np.all(np.isfinite(grad.numpy()))


def test_gradient_matches_finite_differences():
    v = _views(6, m=2, b=3, d=3).astype(np.float64)
    x = tf.Variable(v.astype(np.float32))
    with tf.GradientTape() as tape:
        loss = O.ssl_hsic_loss(x, num_features=None, bandwidth=0.7)["loss"]
    grad = tape.gradient(loss, x).numpy()
    eps = 1e-4
    for idx in [(0, 0, 0), (1, 2, 1), (0, 1, 2)]:
        plus, minus = v.copy(), v.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (ref.ssl_hsic(plus, "imq", 0.7)[0] - ref.ssl_hsic(minus, "imq", 0.7)[0]) / (2 * eps)
        assert grad[idx] == pytest.approx(fd, abs=2e-4)


def test_bandwidth_tensor_is_stop_gradient():
    v = _views(7)
    c = tf.Variable(0.8)
    with tf.GradientTape() as tape:
        out = O.ssl_hsic_loss(v, bandwidth=c, num_features=None)
    assert tape.gradient(out["loss"], c) is None
    assert float(out["loss"]) == pytest.approx(float(O.ssl_hsic_loss(v, bandwidth=0.8, num_features=None)["loss"]), abs=1e-6)


def test_traced_with_symbolic_inputs_and_dynamic_batch():
    fn = tf.function(
        lambda v, s: O.ssl_hsic_loss(v, num_features=32, seed=s)["loss"],
        input_signature=[tf.TensorSpec([4, None, 8], tf.float32), tf.TensorSpec([2], tf.int32)],
    )
    v = _views(8, m=4, b=6, d=8)
    seed = tf.constant([1, 2], tf.int32)
    assert float(fn(v, seed)) == pytest.approx(float(O.ssl_hsic_loss(v, num_features=32, seed=seed)["loss"]), abs=1e-6)
    exact = tf.function(lambda v: O.ssl_hsic_loss(v, num_features=None)["loss"],
                        input_signature=[tf.TensorSpec([4, None, 8], tf.float32)])
    assert float(exact(v)) == pytest.approx(float(O.ssl_hsic_loss(v, num_features=None)["loss"]), abs=1e-6)
