"""The gather convention: 2 MirroredStrategy replicas == 1 replica on the global batch (gradients)."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import objectives as O
from sslhsic_tf.distribute import gather, replica_scale

M, B, DIN, D = 4, 8, 5, 6


def _views(w, inputs):
    """A small differentiable 'encoder': views [M, b, D] = tanh(inputs [M, b, DIN] @ W)."""
    return tf.tanh(tf.einsum("mbi,id->mbd", inputs, w))


LOSSES = {
    "ssl_hsic_exact": lambda v: O.ssl_hsic_loss(v, num_features=None)["loss"],
    # Every replica passes the same stateless seed, so all draw the same features.
    "ssl_hsic_features": lambda v: O.ssl_hsic_loss(v, num_features=32, seed=tf.constant([3, 4]))["loss"],
    "infonce": lambda v: O.infonce_loss(v[:2], 0.2),
    "dissl": lambda v: O.dissl_loss(v[:2], v)["loss"],
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_two_replicas_match_one_replica(name):
    logical = tf.config.list_logical_devices("CPU")
    if len(logical) < 2:
        pytest.fail("tests/conftest.py should provide two logical CPU devices")
    loss_fn = LOSSES[name]
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(M, B, DIN)).astype(np.float32)
    w0 = rng.normal(size=(DIN, D)).astype(np.float32)

    w_single = tf.Variable(w0)
    with tf.GradientTape() as tape:
        single_loss = loss_fn(_views(w_single, tf.constant(inputs)))
    single_grad = tape.gradient(single_loss, w_single).numpy()

    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in logical[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        w = tf.Variable(w0)

    def shard(ctx):
        b = B // ctx.num_replicas_in_sync
        return tf.constant(inputs[:, ctx.replica_id_in_sync_group * b:(ctx.replica_id_in_sync_group + 1) * b])

    shards = strategy.experimental_distribute_values_from_function(shard)

    def replica_step(x):
        with tf.GradientTape() as tape:
            views = gather(_views(w, x), axis=1)  # the global batch [M, B, D]
            loss = loss_fn(views)
            scaled = replica_scale(loss)
        return tape.gradient(scaled, w), loss

    @tf.function
    def step(x):
        grads, losses = strategy.run(replica_step, args=(x,))
        return strategy.reduce("SUM", grads, axis=None), strategy.experimental_local_results(losses)

    grad, losses = step(shards)
    for loss in losses:  # every replica computes the global loss
        assert float(loss) == pytest.approx(float(single_loss), abs=1e-5)
    np.testing.assert_allclose(grad.numpy(), single_grad, rtol=1e-4, atol=1e-6)
