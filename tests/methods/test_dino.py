"""DINO: the objective against NumPy (loss, student-only gradient, centre), and the method's
own state: the centre updated from the step's teacher outputs, the teacher-temperature warmup,
the frozen last layer, multi-crop. The shared guarantees (1 vs 2 replicas, TF vs JAX step,
`.keras` round trip, presets) come from the tests that iterate over `methods.names()`."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import methods
from sslhsic_tf import objectives as O
from tests.methods.common import random_batch, tiny_encoder




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



def _dino(**kw):
    args = dict(total_steps=100, batch_size=8, **methods.get("dino").test_kwargs)
    args.update(kw)
    model = methods.create("dino", tiny_encoder(), **args)
    model.compile(optimizer="sgd")
    return model


def test_centre_follows_the_teacher_outputs_of_each_step():
    model = _dino()
    batch = random_batch(8, size=8, num_views=3, seed=1)
    teacher = np.stack([np.asarray(model.target_projector(model.target_encoder(v, training=True),
                                                          training=True))
                        for v in batch["views"][:2]])
    model.train_on_batch(batch)
    np.testing.assert_allclose(np.asarray(model.center), 0.1 * teacher.reshape(-1, 32).mean(0),
                               rtol=1e-4, atol=1e-6)


def test_teacher_temperature_warms_up_linearly():
    model = _dino(teacher_temperature_warmup_fraction=0.3)
    for step, expected in ((0, 0.04), (15, 0.055), (30, 0.07), (90, 0.07)):
        model.optimizer.iterations.assign(step)
        assert float(model.current_teacher_temperature()) == pytest.approx(expected, abs=1e-6)


def test_last_layer_frozen_for_the_first_steps_then_trained():
    model = _dino(freeze_last_layer_fraction=0.02)  # steps 0 and 1 of 100
    batch = random_batch(8, size=8, num_views=2, seed=2)

    def directions():
        v = np.asarray(model.projector.last_layer)
        return v / np.linalg.norm(v, axis=0, keepdims=True)

    start, mlp = directions(), np.asarray(model.projector.mlp.trainable_variables[0]).copy()
    for _ in range(2):
        model.train_on_batch(batch)
    np.testing.assert_allclose(directions(), start, atol=1e-6)  # frozen
    assert not np.allclose(np.asarray(model.projector.mlp.trainable_variables[0]), mlp)
    model.train_on_batch(batch)
    assert np.abs(directions() - start).max() > 1e-6  # trained from step 2 on


def test_multi_crop_views_of_two_sizes():
    model = _dino()
    rng = np.random.default_rng(0)
    views = tuple(rng.random((8, s, s, 3), dtype=np.float32) for s in (16, 16, 8, 8))
    logs = model.train_on_batch({"views": views}, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    with pytest.raises(ValueError, match="dino has num_global_views=3 but the batch has 2 views"):
        _dino(num_global_views=3).train_on_batch(random_batch(8, size=8, num_views=2))


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
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
