"""The learned-bandwidth objective: values, resampling, gradient target, and its fixed point."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from sslhsic_tf import objectives as O
from tests.objectives import numpy_reference as ref


def _points(seed, n=12, d=4):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _unit_sq_dists(x):
    x = x.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = np.sum((x[:, None] - x[None]) ** 2, -1)
    return d[~np.eye(len(x), dtype=bool)]


@pytest.mark.parametrize("name,c", [("imq", 1.0), ("imq", 0.3), ("gaussian", 0.5)])
def test_all_pairs_matches_loops(name, c):
    x = _points(0)
    got = float(O.bandwidth_objective(x, c, kernel=name, num_points=None))
    assert got == pytest.approx(ref.bandwidth_objective_all_pairs(x, c, name), abs=1e-5)
    # Views [M, B, D] are the same N = M B points.
    views = x.reshape(3, 4, 4)
    assert float(O.bandwidth_objective(views, c, kernel=name, num_points=None)) == pytest.approx(got, abs=1e-6)


def test_log_slope_is_log_of_the_kernel_derivative():
    d = tf.constant([0.0, 0.5, 2.0, 4.0])
    c = 0.7
    with tf.GradientTape() as tape:
        tape.watch(d)
        k = O.kernel_from_squared_distances(d, kernel="imq", bandwidth=c)
    slope = tape.gradient(k, d).numpy()
    np.testing.assert_allclose(np.asarray(O.log_kernel_slope(d, c)), np.log(np.abs(slope)), rtol=1e-5)


def test_resampled_estimate_is_unbiased_for_all_pairs():
    x = _points(1, n=10)
    exact = float(O.bandwidth_objective(x, 0.8, num_points=None))
    fn = tf.function(lambda s: O.bandwidth_objective(x, 0.8, num_points=8, seed=s))
    values = np.array([float(fn(tf.constant([s, 1], tf.int32))) for s in range(300)])
    assert abs(values.mean() - exact) < 4 * values.std() / np.sqrt(len(values))
    assert float(fn(tf.constant([3, 1], tf.int32))) == float(fn(tf.constant([3, 1], tf.int32)))


def test_gradient_reaches_only_the_bandwidth():
    x = tf.Variable(_points(2))
    log_c = tf.Variable(0.2)
    with tf.GradientTape(persistent=True) as tape:
        j = O.bandwidth_objective(x, tf.exp(log_c), num_points=16, seed=0)
    assert tape.gradient(j, x) is None
    g = tape.gradient(j, log_c)
    assert g is not None and np.isfinite(float(g)) and float(g) != 0.0


def test_adam_on_log_c_reaches_the_imq_fixed_point():
    # The maximiser of J satisfies c^2 mean[1/(d + c^2)] = 1/3 (objectives.md).
    # Clustered points: typical squared distances ~0.1, so the optimum is far from c = 1.
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(1, 1, 6)) + 0.15 * rng.normal(size=(2, 16, 6))).astype(np.float32)
    log_c = keras.Variable(0.0)
    opt = keras.optimizers.Adam(learning_rate=0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = -O.bandwidth_objective(x, tf.exp(log_c), num_points=None)
        opt.apply_gradients([(tape.gradient(loss, log_c.value), log_c)])

    d = _unit_sq_dists(x.reshape(-1, 6))
    assert abs(np.mean(1.0 / (d + 1.0)) - 1.0 / 3.0) > 0.3  # c = 1 is far from the fixed point
    for _ in range(300):
        step()
    c2 = float(np.exp(2 * float(log_c.numpy())))
    assert c2 * np.mean(1.0 / (d + c2)) == pytest.approx(1.0 / 3.0, abs=1e-3)


def test_gaussian_maximiser_is_half_the_mean_squared_distance():
    x = _points(4, n=20)
    d = _unit_sq_dists(x)
    s_star = float(np.sqrt(d.mean() / 2))
    j = [float(O.bandwidth_objective(x, s, kernel="gaussian", num_points=None)) for s in (0.9 * s_star, s_star, 1.1 * s_star)]
    assert j[1] > j[0] and j[1] > j[2]


def test_normalize_false_uses_raw_distances():
    x = 3.0 * _points(5)
    raw = float(O.bandwidth_objective(x, 1.0, num_points=None, normalize=False))
    d = np.sum((x[:, None].astype(np.float64) - x[None]) ** 2, -1)[~np.eye(len(x), dtype=bool)]
    assert raw == pytest.approx(np.mean(np.log(0.5) - 1.5 * np.log(d + 1.0)), abs=1e-5)


def test_bandwidth_objective_rejects_linear_and_bad_arguments():
    x = _points(6)
    with pytest.raises(ValueError, match="kernel must be one of"):
        O.bandwidth_objective(x, 1.0, kernel="linear")
    with pytest.raises(ValueError, match="bandwidth"):
        O.bandwidth_objective(x, -1.0)
    with pytest.raises(ValueError, match="num_points"):
        O.bandwidth_objective(x, 1.0, num_points=0)
    with pytest.raises(ValueError, match="views_or_points must have shape"):
        O.bandwidth_objective(x[0], 1.0)
    with pytest.raises(ValueError, match="views_or_points must contain only finite"):
        O.bandwidth_objective(np.where(x > 1, np.nan, x), 1.0)
