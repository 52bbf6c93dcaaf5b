"""`_numerics.polynomial_cos` (the random features' cosine under JAX on CPU): values and gradient
against NumPy's float64 cos/sin, and the SSL-HSIC loss and gradient under JAX with it against
XLA's own cos (same draws)."""

import numpy as np
import tensorflow as tf

from sslhsic_tf.objectives import _numerics
from tests import helpers


def test_values_and_gradient_against_numpy():
    x = np.concatenate([np.linspace(-80, 80, 20001), np.random.default_rng(0).normal(
        scale=20, size=5000)]).astype("float32")
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = _numerics.polynomial_cos(tensor)
        total = tf.reduce_sum(y * np.linspace(0.5, 1.5, x.size).astype("float32"))
    grad = tape.gradient(total, tensor).numpy()
    exact = np.cos(x.astype(np.float64))
    assert np.abs(y.numpy() - exact).max() < 1e-6
    weights = np.linspace(0.5, 1.5, x.size)
    assert np.abs(grad - (-np.sin(x.astype(np.float64)) * weights)).max() < 1e-5


def test_ssl_hsic_under_jax_equals_the_loss_with_xla_cos():
    out = helpers.run_python("""
        import json
        import jax, jax.numpy as jnp, numpy as np
        from sslhsic_tf.objectives import ssl_hsic_loss
        from sslhsic_tf.utils import backend
        assert backend.slow_cos()  # JAX on this CPU uses the polynomial
        v = jnp.asarray(np.random.default_rng(1).normal(size=(4, 128, 32)).astype("float32"))
        seed = jnp.asarray([3, 7], jnp.int32)
        loss = lambda v: ssl_hsic_loss(v, bandwidth=0.8, num_features=256, seed=seed)["loss"]
        fast = jax.jit(jax.value_and_grad(loss))(v)
        backend.slow_cos = lambda: False
        plain = jax.jit(jax.value_and_grad(loss))(v)
        print(json.dumps({"loss": [float(fast[0]), float(plain[0])],
                          "grad": float(jnp.abs(fast[1] - plain[1]).max()),
                          "scale": float(jnp.abs(plain[1]).max())}))
    """, backend="jax", timeout=300)
    assert abs(out["loss"][0] - out["loss"][1]) < 1e-5
    assert out["grad"] < 1e-4 * out["scale"]
