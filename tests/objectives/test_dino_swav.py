"""DINO and SwAV objectives against direct NumPy computations (float64), with their gradients,
the Sinkhorn marginals, the stop-gradients, and the argument errors."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _dino_numpy(t, s, center, tau_t, tau_s):
    p = np.exp(_log_softmax((t - center) / tau_t))
    log_q = _log_softmax(s / tau_s)
    terms = [-(p[a] * log_q[b]).sum(-1).mean()
             for a in range(len(t)) for b in range(len(s)) if a != b]
    entropy = -(p * np.log(p)).sum(-1).mean()
    marginal = p.mean(1)
    return np.mean(terms), entropy, -(marginal * np.log(marginal)).sum(-1).mean()


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


def _swav_numpy(scores, a_views, tau, eps, iterations):
    log_p = _log_softmax(scores / tau)
    terms = []
    for a in range(a_views):
        q = _sinkhorn_numpy(scores[a], eps, iterations)
        terms += [-(q * log_p[v]).sum(-1).mean() for v in range(len(scores)) if v != a]
    return np.mean(terms)


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(2, 8, 6)) * 2).astype(np.float32), \
        (rng.normal(size=(4, 8, 6)) * 2).astype(np.float32), \
        rng.normal(size=6).astype(np.float32)


def test_dino_loss_matches_numpy(logits):
    t, s, center = logits
    out = O.dino_loss(t, s, center, teacher_temperature=0.07, student_temperature=0.1)
    loss, entropy, marginal = _dino_numpy(t.astype(np.float64), s.astype(np.float64), center, 0.07, 0.1)
    assert float(out["loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(out["teacher_entropy"]) == pytest.approx(entropy, rel=1e-4, abs=1e-6)
    assert float(out["teacher_marginal_entropy"]) == pytest.approx(marginal, rel=1e-5)


def test_dino_gradient_reaches_the_student_only(logits):
    t, s, center = logits
    tv, sv = tf.Variable(t), tf.Variable(s)
    with tf.GradientTape(persistent=True) as tape:
        loss = O.dino_loss(tv, sv, center)["loss"]
    assert tape.gradient(loss, tv) is None or not np.any(tape.gradient(loss, tv).numpy())
    # d loss / d s_b = (q_b - mean of p over the teachers a != b) / (tau_s * pairs * B)
    tau_t, tau_s = 0.04, 0.1
    p = np.exp(_log_softmax((t.astype(np.float64) - center) / tau_t))
    q = np.exp(_log_softmax(s.astype(np.float64) / tau_s))
    vt, vs, b = len(t), len(s), t.shape[1]
    pairs = vt * vs - vt
    expected = np.zeros_like(q)
    for a in range(vt):
        for v in range(vs):
            if a != v:
                expected[v] += (q[v] - p[a]) / (tau_s * pairs * b)
    np.testing.assert_allclose(tape.gradient(loss, sv).numpy(), expected, rtol=1e-3, atol=1e-6)


def test_dino_centre_is_a_running_mean(logits):
    t, _, center = logits
    new = O.dino_center_update(center, t, momentum=0.9)
    np.testing.assert_allclose(np.asarray(new), 0.9 * center + 0.1 * t.reshape(-1, 6).mean(0),
                               rtol=1e-5, atol=1e-6)
    # A centred teacher cannot put every image in one class: subtracting the centre of logits
    # that favour class 0 everywhere gives a higher teacher entropy.
    biased = np.zeros((1, 8, 6), np.float32)
    biased[..., 0] = 5.0
    student = np.zeros((2, 8, 6), np.float32)
    raw = O.dino_loss(biased, student, np.zeros(6, np.float32))["teacher_entropy"]
    centred = O.dino_loss(biased, student, O.dino_center_update(np.zeros(6), biased, 0.0))
    assert float(centred["teacher_entropy"]) > float(raw) + 1.0


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


@pytest.mark.parametrize("call, message", [
    (lambda: O.dino_loss(np.zeros((2, 4, 3)), np.zeros((1, 4, 3)), np.zeros(3)),
     r"student_logits must have shape \[Vs, B, C\] with Vs >= max\(2, Vt = 2\)"),
    (lambda: O.dino_loss(np.zeros((2, 4, 3)), np.zeros((3, 4, 5)), np.zeros(3)),
     r"student_logits must have shape .* the teacher's B = 4 and C = 3"),
    (lambda: O.dino_loss(np.zeros((2, 4, 3)), np.zeros((3, 4, 3)), np.zeros(4)),
     r"center must have shape \[C\] = \[3\]"),
    (lambda: O.dino_loss(np.zeros((2, 4, 3)), np.zeros((3, 4, 3)), np.zeros(3), 0.0),
     r"teacher_temperature must be a finite number > 0"),
    (lambda: O.dino_center_update(np.zeros(3), np.zeros((2, 4, 3)), 1.5),
     r"momentum must be a number in \[0, 1\]"),
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
