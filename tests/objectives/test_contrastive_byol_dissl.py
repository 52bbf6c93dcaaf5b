"""InfoNCE, CISSL, BYOL and DISSL against loop references; invariances; gradients."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O
from tests.objectives import numpy_reference as ref


def _rand(seed, *shape, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_infonce_matches_loops(tau):
    v = _rand(0, 2, 5, 4)
    assert float(O.infonce_loss(v, temperature=tau)) == pytest.approx(ref.infonce(v, tau), rel=1e-5)


def test_infonce_invariances_and_temperature_tensor():
    v = _rand(1, 2, 6, 3)
    base = float(O.infonce_loss(v, 0.2))
    assert float(O.infonce_loss(v[:, ::-1].copy(), 0.2)) == pytest.approx(base, rel=1e-6)
    assert float(O.infonce_loss(v[::-1].copy(), 0.2)) == pytest.approx(base, rel=1e-6)
    assert float(O.infonce_loss(v, tf.constant(0.2))) == pytest.approx(base, rel=1e-6)


@pytest.mark.parametrize("v_views,tau", [(2, 0.07), (3, 0.1)])
def test_cissl_matches_loops(v_views, tau):
    s, t = _rand(2, v_views, 4, 5), _rand(3, v_views, 4, 5)
    assert float(O.cissl_loss(s, t, temperature=tau)) == pytest.approx(ref.cissl(s, t, tau), rel=1e-5)


def test_cissl_invariances():
    s, t = _rand(4, 2, 5, 3), _rand(5, 2, 5, 3)
    base = float(O.cissl_loss(s, t, 0.3))
    perm = np.array([3, 1, 4, 0, 2])
    assert float(O.cissl_loss(s[:, perm], t[:, perm], 0.3)) == pytest.approx(base, rel=1e-6)
    assert float(O.cissl_loss(s[::-1].copy(), t[::-1].copy(), 0.3)) == pytest.approx(base, rel=1e-6)


def test_byol_matches_loops_and_stops_target_gradient():
    p, t = _rand(6, 2, 5, 4), _rand(7, 2, 5, 4)
    assert float(O.byol_loss(p, t)) == pytest.approx(ref.byol(p, t), rel=1e-5)
    pv, tv = tf.Variable(p), tf.Variable(t)
    with tf.GradientTape(persistent=True) as tape:
        loss = O.byol_loss(pv, tv)
    assert tape.gradient(loss, tv) is None
    assert np.all(np.isfinite(tape.gradient(loss, pv).numpy()))
    # Perfect agreement gives 0; swapping views together is a symmetry.
    assert float(O.byol_loss(p, p[::-1].copy())) == pytest.approx(0.0, abs=1e-6)
    assert float(O.byol_loss(p[::-1].copy(), t[::-1].copy())) == pytest.approx(float(O.byol_loss(p, t)), rel=1e-6)
    perm = np.array([2, 4, 0, 3, 1])
    assert float(O.byol_loss(p[:, perm], t[:, perm])) == pytest.approx(float(O.byol_loss(p, t)), rel=1e-6)


@pytest.mark.parametrize("vt,vs", [(2, 2), (2, 4), (1, 3)])
def test_dissl_matches_loops(vt, vs):
    t, s = _rand(8, vt, 6, 7, scale=2.0), _rand(9, vs, 6, 7, scale=2.0)
    out = {k: float(v) for k, v in O.dissl_loss(t, s, lam=2.3, beta=0.8, teacher_temperature=0.5, student_temperature=1.0).items()}
    loss, distill, ent, tce = ref.dissl(t, s, 2.3, 0.8, 0.5, 1.0)
    assert out["loss"] == pytest.approx(loss, abs=2e-5)
    assert out["distillation"] == pytest.approx(distill, abs=2e-5)
    assert out["marginal_entropy"] == pytest.approx(ent, abs=2e-5)
    assert out["teacher_cross_entropy"] == pytest.approx(tce, abs=2e-5)


def test_dissl_invariances_and_gradients_flow_to_both_heads():
    t, s = _rand(10, 2, 5, 6), _rand(11, 2, 5, 6)
    base = float(O.dissl_loss(t, s)["loss"])
    perm = np.array([4, 2, 0, 1, 3])
    assert float(O.dissl_loss(t[:, perm], s[:, perm])["loss"]) == pytest.approx(base, abs=2e-6)
    assert float(O.dissl_loss(t[::-1].copy(), s[::-1].copy())["loss"]) == pytest.approx(base, abs=2e-6)
    tv, sv = tf.Variable(t), tf.Variable(s)
    with tf.GradientTape(persistent=True) as tape:
        loss = O.dissl_loss(tv, sv)["loss"]
    for g in (tape.gradient(loss, tv), tape.gradient(loss, sv)):
        assert g is not None and np.all(np.isfinite(g.numpy())) and np.abs(g.numpy()).sum() > 0


def test_collapsed_inputs_give_finite_values_and_gradients():
    one = np.tile(np.array([[[0.5, -1.0, 2.0, 0.1]]], np.float32), (2, 4, 1))
    x = tf.Variable(one)
    with tf.GradientTape(persistent=True) as tape:
        losses = [
            O.infonce_loss(x, 0.1),
            O.cissl_loss(x, x, 0.07),
            O.byol_loss(x, one),
            O.dissl_loss(x, x)["loss"],
        ]
    for loss in losses:
        assert np.isfinite(float(loss))
        assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))
    # Collapse: every logit equal, InfoNCE = log(2B - 1).
    assert float(losses[0]) == pytest.approx(np.log(7.0), rel=1e-5)
