"""Bad input raises ValueError/TypeError naming the argument; traced inputs skip value checks."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O

V = np.random.default_rng(0).normal(size=(2, 8, 4)).astype(np.float32)


def _nan(x):
    x = x.copy()
    x[0, 0, 0] = np.nan
    return x


BAD = [
    # (callable, error type, regex the message must match)
    (lambda: O.ssl_hsic_loss(V[:1]), ValueError, r"views must have shape \[M, B, D\] with M >= 2 views.*got shape \(1, 8, 4\)"),
    (lambda: O.ssl_hsic_loss(V[:, :1]), ValueError, r"views must have shape .*B >= 2.*got shape \(2, 1, 4\)"),
    (lambda: O.ssl_hsic_loss(V[0]), ValueError, r"views must have shape \[M, B, D\].*got shape \(8, 4\)"),
    (lambda: O.hsic_zy(V, kernel="rbf"), ValueError, r"kernel must be one of \('imq', 'gaussian', 'linear'\); got 'rbf'"),
    (lambda: O.hsic_zz(V, bandwidth=0.0), ValueError, r"bandwidth must be a finite number > 0; got 0.0"),
    (lambda: O.ssl_hsic_loss(V, bandwidth=tf.constant(-1.0)), ValueError, r"bandwidth must be a finite number > 0"),
    (lambda: O.ssl_hsic_loss(V, bandwidth=tf.constant([1.0, 2.0])), ValueError, r"bandwidth must be a scalar"),
    (lambda: O.ssl_hsic_loss(V, num_features=0), ValueError, r"num_features must be None or an int > 0; got 0"),
    (lambda: O.ssl_hsic_loss(V, num_features=2.5), TypeError, r"num_features must be None or an int > 0"),
    (lambda: O.ssl_hsic_loss(V, gamma=-1.0), ValueError, r"gamma must be a finite number >= 0"),
    (lambda: O.ssl_hsic_loss(V, seed=tf.constant([1, 2, 3])), ValueError, r"seed must be None, an int"),
    (lambda: O.ssl_hsic_loss(_nan(V)), ValueError, r"views must contain only finite values"),
    (lambda: O.ssl_hsic_loss(None), TypeError, r"views must be an array or tensor"),
    (lambda: O.ssl_hsic_loss(np.array([[["a"] * 4] * 8] * 2)), TypeError, r"views must be a numeric array or tensor; got ndarray with dtype <U1"),
    (lambda: O.ssl_hsic_loss(np.ones((2, 8, 4), bool)), TypeError, r"views must have a real numeric dtype; got bool"),
    (lambda: O.infonce_loss(np.concatenate([V, V])), ValueError, r"views must have shape \[2, B, D\].*got shape \(4, 8, 4\)"),
    (lambda: O.infonce_loss(V, temperature=0.0), ValueError, r"temperature must be a finite number > 0"),
    (lambda: O.infonce_loss(_nan(V)), ValueError, r"views must contain only finite values"),
    (lambda: O.cissl_loss(V, V[:, :, :3]), ValueError, r"teacher must have the same shape as student; got student \(2, 8, 4\) and teacher \(2, 8, 3\)"),
    (lambda: O.cissl_loss(V[:1], V[:1]), ValueError, r"student must have shape \[M, B, D\] with M >= 2"),
    (lambda: O.cissl_loss(V, V, temperature=-0.1), ValueError, r"temperature must be a finite number > 0"),
    (lambda: O.byol_loss(V, V[:, :4]), ValueError, r"target_projections must have the same shape as online_predictions"),
    (lambda: O.byol_loss(V[:, :1], V[:, :1]), ValueError, r"online_predictions must have shape \[2, B, D\]"),
    (lambda: O.byol_loss(V, _nan(V)), ValueError, r"target_projections must contain only finite values"),
    (lambda: O.dissl_loss(V, V[:1]), ValueError, r"student_logits must have shape \[Vs, B, C\] with Vs >= max\(2, Vt = 2\)"),
    (lambda: O.dissl_loss(V, V[:, :4]), ValueError, r"student_logits must have shape .*B = 8.*got shape \(2, 4, 4\)"),
    (lambda: O.dissl_loss(V[:, :, :2], V), ValueError, r"student_logits must have shape .*C = 2"),
    (lambda: O.dissl_loss(V, V, teacher_temperature=0), ValueError, r"teacher_temperature must be a finite number > 0"),
    (lambda: O.dissl_loss(V, V, student_temperature=float("inf")), ValueError, r"student_temperature must be a finite number > 0"),
    (lambda: O.dissl_loss(V, V, lam=-2.3), ValueError, r"lam must be a finite number >= 0"),
    (lambda: O.dissl_loss(V, V, beta="0.8"), TypeError, r"beta must be a finite number >= 0"),
    (lambda: O.dissl_loss(V[:, :1], V[:, :1]), ValueError, r"teacher_logits must have shape \[Vt, B, C\].*B >= 2"),
    (lambda: O.random_features(V, num_features=4), ValueError, r"x must have shape \[N, D\]"),
    (lambda: O.sample_frequencies(4, 0), ValueError, r"num_features must be None or an int > 0"),
]


def test_bad_input_messages():
    # One test for all cases (the per-test session teardown would dominate); every failing case
    # is reported.
    failures = []
    for i, (fn, err, pattern) in enumerate(BAD):
        try:
            fn()
        except err as e:
            if not re.search(pattern, str(e)):
                failures.append(f"case {i}: message {str(e)!r} does not match {pattern!r}")
        except Exception as e:  # noqa: BLE001
            failures.append(f"case {i}: expected {err.__name__}, got {type(e).__name__}: {e}")
        else:
            failures.append(f"case {i}: no error raised (expected {err.__name__} matching {pattern!r})")
    assert not failures, "\n".join(failures)


def test_shape_checks_run_while_tracing():
    fn = tf.function(lambda v: O.ssl_hsic_loss(v, num_features=None)["loss"])
    with pytest.raises(ValueError, match=r"views must have shape .*got shape \(1, 8, 4\)"):
        fn(tf.constant(V[:1]))
    with pytest.raises(ValueError, match=r"views must have shape"):
        O.ssl_hsic_loss(keras.KerasTensor((1, None, 4)), num_features=None)


def test_finite_check_is_skipped_inside_traced_functions():
    # Documented behaviour: the trainer's divergence policy handles NaNs in traced steps.
    fn = tf.function(lambda v: O.infonce_loss(v))
    assert np.isnan(float(fn(tf.constant(_nan(V)))))
    # Positivity of a tensor bandwidth needs its value too: no error while tracing.
    c = tf.function(lambda b: O.ssl_hsic_loss(V, bandwidth=b, num_features=None)["loss"])
    assert np.isfinite(float(c(tf.constant(-1.0))))
