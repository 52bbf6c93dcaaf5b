"""SwAV: Sinkhorn-Knopp and the loss against NumPy (with and without a queue), and the
method's own state: unit prototypes after every step, prototypes frozen for the first steps,
the queue of past projections. The shared guarantees come from the tests that iterate over
`methods.names()`."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import methods
from sslhsic_tf import objectives as O
from tests.methods.common import random_batch, tiny_encoder




def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _sinkhorn_numpy(scores, eps, iterations):
    q = np.exp(scores / eps).T  # [K, B], as in the paper's pseudo-code
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(1, keepdims=True)
        q /= k
        q /= q.sum(0, keepdims=True)
        q /= b
    return (q * b).T


def _swav_numpy(scores, a_views, tau, eps, iterations, queue=None):
    scores = np.asarray(scores, np.float64)
    log_p = _log_softmax(scores / tau)
    terms = []
    for a in range(a_views):
        joint = scores[a] if queue is None else np.concatenate([scores[a], queue[a]])
        q = _sinkhorn_numpy(joint, eps, iterations)[: scores.shape[1]]
        terms += [-(q * log_p[v]).sum(-1).mean() for v in range(len(scores)) if v != a]
    return np.mean(terms)


def test_sinkhorn_matches_numpy_and_balances_the_prototypes():
    rng = np.random.default_rng(1)
    scores = np.tanh(rng.normal(size=(32, 8))).astype(np.float32)  # cosine-like
    q = np.asarray(O.sinkhorn_knopp(scores, epsilon=0.05, iterations=3))
    np.testing.assert_allclose(q, _sinkhorn_numpy(scores.astype(np.float64), 0.05, 3),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)  # each sample's code is a distribution
    many = np.asarray(O.sinkhorn_knopp(scores, epsilon=0.05, iterations=50))
    np.testing.assert_allclose(many.sum(0), 32 / 8, rtol=1e-3)  # equipartition at convergence
    # Scores / epsilon spanning [-200, 200] (exp overflows float32) give the float64 result.
    np.testing.assert_allclose(np.asarray(O.sinkhorn_knopp(scores * 10, 0.05, 3)),
                               _sinkhorn_numpy(scores.astype(np.float64) * 10, 0.05, 3),
                               rtol=1e-3, atol=1e-6)


def test_swav_loss_matches_numpy_and_its_codes_take_no_gradient():
    rng = np.random.default_rng(2)
    scores = np.tanh(rng.normal(size=(4, 16, 5))).astype(np.float32)
    out = O.swav_loss(scores, num_assignment_views=2, temperature=0.1, epsilon=0.05,
                      sinkhorn_iterations=3)
    assert float(out["loss"]) == pytest.approx(_swav_numpy(scores.astype(np.float64), 2, 0.1,
                                                           0.05, 3), rel=1e-4)
    assert 0 < float(out["prototype_usage_entropy"]) <= np.log(5) + 1e-5
    # The gradient is that of the cross-entropy with fixed codes: (softmax - q) / (T ...).
    v = tf.Variable(scores)
    with tf.GradientTape() as tape:
        loss = O.swav_loss(v, 2)["loss"]
    grad = tape.gradient(loss, v).numpy()
    p = np.exp(_log_softmax(scores.astype(np.float64) / 0.1))
    codes = [_sinkhorn_numpy(scores[a].astype(np.float64), 0.05, 3) for a in range(2)]
    expected = np.zeros_like(p)
    for a in range(2):
        for other in range(4):
            if other != a:
                expected[other] += (p[other] - codes[a]) / (0.1 * 16 * 2 * 3)
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-6)



def test_queue_scores_join_the_normalisation_but_only_batch_codes_are_predicted():
    rng = np.random.default_rng(3)
    scores = np.tanh(rng.normal(size=(3, 8, 5))).astype(np.float32)
    queue = np.tanh(rng.normal(size=(2, 12, 5))).astype(np.float32)
    out = O.swav_loss(scores, 2, 0.1, 0.05, 3, queue_scores=queue)
    assert float(out["loss"]) == pytest.approx(
        _swav_numpy(scores, 2, 0.1, 0.05, 3, queue=queue.astype(np.float64)), rel=1e-4)
    with pytest.raises(ValueError, match=r"queue_scores must have shape \[A, Q, K\] = \[2, Q, 5\]"):
        O.swav_loss(scores, 2, queue_scores=queue[:1])


def _swav(**kw):
    args = dict(total_steps=100, batch_size=8, **methods.get("swav").test_kwargs)
    args.update(kw)
    model = methods.create("swav", tiny_encoder(), **args)
    model.compile(optimizer="sgd")
    return model


def test_prototypes_stay_unit_and_are_frozen_first():
    model = _swav(freeze_prototypes_fraction=0.02)
    batch = random_batch(8, size=8, num_views=2, seed=4)
    start = np.asarray(model.prototypes).copy()
    np.testing.assert_allclose(np.linalg.norm(start, axis=0), 1.0, rtol=1e-5)
    for _ in range(2):
        model.train_on_batch(batch)
    np.testing.assert_allclose(np.asarray(model.prototypes), start, atol=1e-6)  # frozen
    model.train_on_batch(batch)
    after = np.asarray(model.prototypes)
    assert np.abs(after - start).max() > 1e-6
    np.testing.assert_allclose(np.linalg.norm(after, axis=0), 1.0, rtol=1e-5)


def test_queue_fills_with_the_global_projections_then_is_used():
    model = _swav(queue_length=16)
    rng = np.random.default_rng(5)
    views = tuple(rng.random((8, s, s, 3), dtype=np.float32) for s in (8, 8, 6))
    filled = []
    for _ in range(3):
        logs = model.train_on_batch({"views": views}, return_dict=True)
        assert np.isfinite(logs["loss"])
        queue = np.asarray(model.queue)
        filled.append((float(model.queue_filled), int((np.linalg.norm(queue, axis=-1) > 0.5).sum())))
    assert filled[0] == (0.5, 16) and filled[1][0] == 1.0 and filled[1][1] == 32
    np.testing.assert_allclose(np.linalg.norm(queue, axis=-1), 1.0, rtol=1e-4)


def test_the_queue_enters_the_objective_only_once_full():
    model = _swav(queue_length=12)
    rng = np.random.default_rng(6)
    scores = np.tanh(rng.normal(size=(3, 8, 12))).astype(np.float32)
    queue = rng.normal(size=(2, 12, 8))
    queue /= np.linalg.norm(queue, axis=-1, keepdims=True)
    model.queue.assign(queue.astype(np.float32))
    queue_scores = queue @ np.asarray(model.prototypes, np.float64)  # [A, Q, K]
    for filled, reference in ((0.5, _swav_numpy(scores, 2, 0.1, 0.05, 3)),
                              (1.0, _swav_numpy(scores, 2, 0.1, 0.05, 3, queue=queue_scores))):
        model.queue_filled.assign(filled)
        loss = float(model.objective({"scores": scores}, seed=None)["loss"])
        assert loss == pytest.approx(reference, rel=1e-4), filled
    assert _swav_numpy(scores, 2, 0.1, 0.05, 3) != pytest.approx(reference, rel=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: O.sinkhorn_knopp(np.zeros((2, 4, 3))), r"scores must have shape \[B, K\]"),
    (lambda: O.sinkhorn_knopp(np.zeros((4, 3)), iterations=0), r"iterations must be an int >= 1"),
    (lambda: O.swav_loss(np.zeros((2, 4, 3)), num_assignment_views=3),
     r"num_assignment_views must be <= the 2 views of scores"),
    (lambda: O.swav_loss(np.zeros((1, 4, 3))), r"scores must have shape \[V, B, K\] with V >= 2"),
    (lambda: O.swav_loss(np.full((2, 4, 3), np.nan)), r"scores"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
