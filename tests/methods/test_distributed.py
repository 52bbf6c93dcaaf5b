"""N replicas on a global batch give exactly the update of one replica on the same batch.

This pins the whole distributed convention: views gathered across replicas, every objective on
the global batch, the loss scaled by 1/num_replicas because Keras sums replica gradients,
synchronised BatchNorm, identical per-step seeds, EMA targets kept in step.
"""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import methods
from tests.methods.common import TINY, random_batch, tiny_encoder

STEPS = 2
GLOBAL_BATCH = 8


# Adam's first steps are sign-like (m/sqrt(v) = ±1 for any |g| >> eps), which turns float
# rounding in near-zero gradients into lr-sized differences; the methods whose default is
# Adam are compared with SGD + momentum, which checks the same distributed convention.
# The global-norm clipping of their recipe (2.0) is kept, and set low enough to be active: Keras
# alone would clip each replica's partial gradient (see distribute.clip_global_gradients).
OPTIMIZER = {name: {"name": "sgd", "clipnorm": 0.05} for name in methods.names()
             if methods.get(name).optimizer_defaults["name"] == "adamw"}


def _create(name):
    return methods.create(
        name, tiny_encoder(), total_steps=10, batch_size=GLOBAL_BATCH, num_classes=3,
        optimizer_config=OPTIMIZER.get(name), log_norms=True, **TINY[name],
    )


def _train(name, strategy, weights, batch, run_eagerly=False):
    with strategy.scope():
        model = _create(name)
        if weights is not None:
            model.set_weights(weights)
        model.compile(run_eagerly=run_eagerly)
    ds = tf.data.Dataset.from_tensors(batch).repeat(STEPS)
    history = model.fit(ds, epochs=1, verbose=0)
    return model, history.history


@pytest.mark.parametrize("name", methods.names())
def test_two_replicas_equal_one(name, mirrored):
    batch = random_batch(GLOBAL_BATCH, size=8, num_views=2, seed=1)
    init = _create(name).get_weights()
    assert mirrored.num_replicas_in_sync == 2
    # The one-replica reference runs eagerly (op by op: no tracing to pay for), the two-replica
    # run as a graph, the path of real distributed training.
    single, hist1 = _train(name, tf.distribute.get_strategy(), init, batch, run_eagerly=True)
    double, hist2 = _train(name, mirrored, init, batch)

    w1, w2 = single.get_weights(), double.get_weights()
    assert len(w1) == len(w2)
    moved = 0
    for a, b, a0 in zip(w1, w2, init):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
        moved += int(not np.allclose(a, a0))
    assert moved > len(w1) // 3, "training should have changed most variables"
    # The logged (global) loss and gradient norm agree too.
    for key in ("loss", "grad_norm", "weight_norm"):
        np.testing.assert_allclose(hist1[key], hist2[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_clip_global_gradients_clips_the_summed_gradient(mirrored):
    """Keras clips each replica's partial gradient; the helper makes the sum the clipped global one."""
    from sslhsic_tf.distribute import clip_global_gradients

    parts = [np.array([3.0, 0.0], "float32"), np.array([0.0, 4.0], "float32")]  # sum: [3, 4], norm 5

    def clip(gs):
        norm = tf.linalg.global_norm(gs)
        return [g * tf.minimum(1.0, 1.0 / norm) for g in gs]  # global norm 1

    @tf.function
    def step():
        def fn():
            ctx = tf.distribute.get_replica_context()
            g = tf.constant(parts[0]) if ctx.replica_id_in_sync_group == 0 else tf.constant(parts[1])
            g = tf.where(tf.equal(ctx.replica_id_in_sync_group, 0), parts[0], parts[1])
            out = clip_global_gradients([g, None], [([0, 1], clip)])
            assert out[1] is None
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, out[0])  # what the optimizer sums

        return mirrored.run(fn)

    total = mirrored.experimental_local_results(step())[0].numpy()
    np.testing.assert_allclose(total, [0.6, 0.8], rtol=1e-6)
    # Clipping each replica's part separately (Keras' behaviour) would give [1, 1].
