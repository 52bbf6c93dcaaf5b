"""L-BFGS probe: analytic gradient, optimality, agreement with a NumPy gradient-descent solve."""

import json

import numpy as np
import pytest

from sslhsic_tf.evaluation import fit_logistic_regression, linear_lbfgs_evaluate, select_l2
from sslhsic_tf.evaluation.linear_lbfgs import logistic_loss_and_grad, stratified_split


def _problem(n=40, f=3, c=3, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    features = rng.normal(size=(c, f))[labels] * 1.5 + noise * rng.normal(size=(n, f))
    return features, labels


def gradient_descent_solve(x, y, l2, c, steps=6000):
    """Plain gradient descent on the same objective, written per class with einsum."""
    n, f = x.shape
    w, b = np.zeros((f, c)), np.zeros(c)
    step = 1.0 / (0.5 * np.linalg.eigvalsh(x.T @ x / n).max() + 0.5 + l2)
    targets = np.zeros((n, c))
    targets[np.arange(n), y] = 1.0
    for _ in range(steps):
        z = np.einsum("nf,fc->nc", x, w) + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= step * (np.einsum("nf,nc->fc", x, p - targets) / n + l2 * w)
        b -= step * (p - targets).mean(0)
    z = x @ w + b
    loss = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(n), y]) + 0.5 * l2 * (w ** 2).sum()
    return w, b, loss


def test_analytic_gradient_matches_finite_differences():
    x, y = _problem(n=12, f=4, c=3, seed=3)
    one_hot = np.eye(3)[y]
    params = np.random.default_rng(0).normal(size=4 * 3 + 3)
    _, grad = logistic_loss_and_grad(params, x, one_hot, 0.3)
    eps = 1e-6
    numeric = np.array([
        (logistic_loss_and_grad(params + eps * e, x, one_hot, 0.3)[0]
         - logistic_loss_and_grad(params - eps * e, x, one_hot, 0.3)[0]) / (2 * eps)
        for e in np.eye(params.size)
    ])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_solution_is_stationary_and_matches_gradient_descent():
    x, y = _problem()
    model = fit_logistic_regression(x, y, l2=0.1, standardize=False, gradient_tolerance=1e-10)
    assert model.converged
    params = np.concatenate([model.weights.ravel(), model.bias])
    loss, grad = logistic_loss_and_grad(params, x, np.eye(3)[y], 0.1)
    assert np.abs(grad).max() < 1e-7
    w, b, gd_loss = gradient_descent_solve(x, y, 0.1, 3)
    np.testing.assert_allclose(model.weights, w, atol=1e-5)
    np.testing.assert_allclose(model.bias, b, atol=1e-5)
    assert loss == pytest.approx(gd_loss, abs=1e-10)
    assert model.loss == pytest.approx(gd_loss, abs=1e-10)


def test_standardisation_and_determinism():
    x, y = _problem(seed=5)
    x = x * np.array([100.0, 0.01, 1.0]) + np.array([5.0, -3.0, 0.0])
    a = fit_logistic_regression(x, y, l2=0.01)
    b = fit_logistic_regression(x, y, l2=0.01)
    np.testing.assert_array_equal(a.weights, b.weights)
    z = (x - x.mean(0)) / x.std(0)
    manual = fit_logistic_regression(z, y, l2=0.01, standardize=False)
    np.testing.assert_allclose(a.logits(x), manual.logits(z), atol=1e-5)


def test_held_out_selection_and_record():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 20)
    centres = rng.normal(size=(6, 10)) * 2
    train = centres[labels] + rng.normal(size=(120, 10))
    test_labels = np.repeat(np.arange(6), 5)
    test = centres[test_labels] + rng.normal(size=(30, 10))
    best, info = select_l2(train, labels, l2_grid=(1e-4, 1e-2, 1.0), validation_fraction=0.25, seed=3)
    assert info["num_validation"] == 30  # 5 of each class held out
    scores = info["validation_top1"]
    assert set(scores) == {"0.0001", "0.01", "1.0"}
    assert scores[repr(best)] == max(scores.values())
    assert best == max(v for v in (1e-4, 1e-2, 1.0) if scores[repr(v)] == max(scores.values()))

    record = linear_lbfgs_evaluate(train, labels, test, test_labels, l2_grid=(1e-4, 1e-2, 1.0),
                                   validation_fraction=0.25, seed=3)
    assert record["protocol"] == "linear_lbfgs" and record["l2"] == best
    assert record["l2_selection"] == info
    assert record["top1"] > 0.8 and record["top5"] >= record["top1"] and record["converged"]
    json.dumps(record)
    fixed = linear_lbfgs_evaluate(train, labels, test, test_labels, l2=0.5)
    assert fixed["l2"] == 0.5 and fixed["l2_selection"] is None


def test_stratified_split_keeps_every_class():
    labels = np.array([0] * 10 + [1] * 5 + [2])
    train, held = stratified_split(labels, 0.2, seed=1)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(16))
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]


BAD_KWARGS = [
    (dict(train_labels=np.zeros(9, int)), ValueError, "train_labels"),
    (dict(test_labels=np.array([0, 1, 3])), ValueError, "test_labels.*num_classes"),
    (dict(train_features=np.full((10, 2), np.inf)), ValueError, "train_features.*NaN or infinite"),
    (dict(l2="best"), ValueError, "l2"),
    (dict(l2=-1.0), ValueError, "l2"),
    (dict(validation_fraction=1.5), ValueError, "validation_fraction"),
    (dict(train_features=np.zeros((10, 2, 1))), ValueError, r"train_features.*\[N, F\]"),
]


def test_bad_input():
    for kwargs, error, match in BAD_KWARGS:
        rng = np.random.default_rng(0)
        args = dict(
            train_features=rng.normal(size=(10, 2)), train_labels=np.array([0, 1] * 5),
            test_features=rng.normal(size=(3, 2)), test_labels=np.array([0, 1, 1]),
        )
        if "test_labels" in kwargs:
            args["num_classes"] = 3
        args.update(kwargs)
        with pytest.raises(error, match=match):
            linear_lbfgs_evaluate(**args)


def test_integer_labels_give_the_one_hot_loss_and_gradient():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 5)), rng.integers(0, 4, 40)
    params = rng.normal(size=5 * 4 + 4)
    loss_a, grad_a = logistic_loss_and_grad(params, x, np.eye(4)[y], 0.2)
    loss_b, grad_b = logistic_loss_and_grad(params, x, y, 0.2)
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-12)
    np.testing.assert_allclose(grad_a, grad_b, rtol=1e-10, atol=1e-14)
