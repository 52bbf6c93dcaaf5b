"""float16 / bfloat16 inputs: float32 losses, finite values and gradients, close to float32 results."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O


def _objectives():
    return {
        "ssl_hsic_exact": lambda x: O.ssl_hsic_loss(x, num_features=None)["loss"],
        "ssl_hsic_features": lambda x: O.ssl_hsic_loss(x, num_features=64, seed=1)["loss"],
        "ssl_hsic_gaussian": lambda x: O.ssl_hsic_loss(x, kernel="gaussian", bandwidth=0.5, num_features=None)["loss"],
        "infonce": lambda x: O.infonce_loss(x[:2], temperature=0.05),
        "cissl": lambda x: O.cissl_loss(x[:2], x[2:], temperature=0.07),
        "byol": lambda x: O.byol_loss(x[:2], x[2:]),
        "dissl": lambda x: O.dissl_loss(x[:2], x, teacher_temperature=0.02, student_temperature=0.05)["loss"],
    }


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_give_float32_finite_loss_and_gradients(dtype):
    base = np.random.default_rng(0).normal(size=(4, 8, 16)).astype(np.float32)
    collapsed = np.tile(base[:1, :1], (4, 8, 1))
    for name, fn in _objectives().items():
        for data in (base, collapsed):
            x = tf.Variable(tf.cast(data, dtype))
            with tf.GradientTape() as tape:
                loss = fn(x)
            grad = tape.gradient(loss, x)
            assert loss.dtype == tf.float32, name
            assert np.isfinite(float(loss)), name
            assert grad is not None and np.all(np.isfinite(tf.cast(grad, tf.float32).numpy())), name
        # The value is the float32 value of the rounded inputs (computation is in float32).
        rounded = tf.cast(tf.cast(base, dtype), tf.float32)
        assert float(fn(tf.cast(base, dtype))) == pytest.approx(float(fn(rounded)), rel=1e-6, abs=1e-6), name
