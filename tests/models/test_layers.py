"""BatchNorm (cross-replica, recipe defaults, backend-neutral config) and ImageNormalization."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.models import BatchNorm, ImageNormalization
from tests.helpers import run_python


def _np_batchnorm(x, eps):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return (x - mean) / np.sqrt(var + eps), mean, var


def test_batchnorm_defaults_and_config_round_trip():
    bn = BatchNorm()
    assert bn.momentum == 0.9 and bn.epsilon == 1e-5
    assert bn.synchronized is True  # TensorFlow backend: global statistics under tf.distribute
    config = bn.get_config()
    assert "synchronized" not in config and config["cross_replica"] is True
    clone = BatchNorm.from_config(config)
    assert clone.get_config() == config
    local = BatchNorm(cross_replica=False, momentum=0.99, epsilon=1e-3)
    assert local.synchronized is False
    assert BatchNorm.from_config(local.get_config()).cross_replica is False
    # A plain Keras config carrying `synchronized` loads, read as cross_replica.
    assert BatchNorm(synchronized=False).cross_replica is False
    serialized = keras.saving.serialize_keras_object(bn)
    assert serialized["registered_name"] == "sslhsic_tf>BatchNorm"
    assert isinstance(keras.saving.deserialize_keras_object(serialized), BatchNorm)


def test_batchnorm_training_and_moving_statistics_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(16, 5)).astype("float32")
    bn = BatchNorm()
    y = keras.ops.convert_to_numpy(bn(x, training=True))
    expected, mean, var = _np_batchnorm(x.astype("float64"), 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    # moving = 0.9 * moving + 0.1 * batch (Keras uses the biased batch variance)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-4)
    y_inf = keras.ops.convert_to_numpy(bn(x, training=False))
    np.testing.assert_allclose(
        y_inf, (x - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-5), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("cross_replica", [True, False])
def test_batchnorm_statistics_under_mirrored_strategy(cross_replica):
    """cross_replica=True: two replicas' shards are normalised with the global batch statistics."""
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3)).astype("float32")
    x[4:] += 5.0  # the two shards have very different means
    shards = [x[:4], x[4:]]
    with strategy.scope():
        bn = BatchNorm(cross_replica=cross_replica)
        bn.build((None, 3))

    @tf.function
    def step(values):
        return strategy.run(lambda v: bn(v, training=True), args=(values,))

    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(shards[ctx.replica_id_in_sync_group])
    )
    out = np.concatenate([r.numpy() for r in strategy.experimental_local_results(step(values))])
    if cross_replica:
        expected = _np_batchnorm(x.astype("float64"), 1e-5)[0]
    else:
        expected = np.concatenate([_np_batchnorm(s.astype("float64"), 1e-5)[0] for s in shards])
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


def _graph_ops(function, *args):
    return {op.type for op in function.get_concrete_function(*args).graph.get_operations()}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("shape", [(6, 5, 4, 8), (12, 8)])
def test_fused_batchnorm_matches_keras_composite_ops(shape, dtype):
    """The fused kernel (one replica) gives Keras' outputs, gradients and moving statistics."""
    rng = np.random.default_rng(2)
    channels = shape[-1]
    x = tf.constant(rng.normal(1.5, 2.0, size=shape), dtype)
    upstream = tf.constant(rng.normal(size=shape), dtype)
    weights = [rng.normal(1.0, 0.3, channels), rng.normal(0.0, 0.5, channels),
               rng.normal(0.2, 0.1, channels), rng.uniform(0.5, 2.0, channels)]
    policy = "mixed_bfloat16" if dtype == "bfloat16" else "float32"
    fused = BatchNorm(dtype=policy)
    reference = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=policy)
    for layer in (fused, reference):
        layer.build(shape)
        layer.set_weights([w.astype("float32") for w in weights])

    def step(layer):
        @tf.function
        def run(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                y = layer(inputs, training=True)
                objective = tf.reduce_sum(tf.cast(y, "float32") * tf.cast(upstream, "float32"))
            grads = tape.gradient(objective, [inputs, layer.gamma, layer.beta])
            return y, grads, layer(inputs, training=False)
        return run

    fused_step, reference_step = step(fused), step(reference)
    assert "FusedBatchNormV3" in _graph_ops(fused_step, x)
    assert "FusedBatchNormV3" not in _graph_ops(reference_step, x)
    tol = dict(rtol=2e-2, atol=3e-2) if dtype == "bfloat16" else dict(rtol=1e-4, atol=1e-4)
    (y, grads, y_inf), (y_ref, grads_ref, y_inf_ref) = fused_step(x), reference_step(x)
    assert y.dtype == y_ref.dtype == tf.as_dtype(dtype) and y.shape == y_ref.shape
    np.testing.assert_allclose(tf.cast(y, "float32"), tf.cast(y_ref, "float32"), **tol)
    np.testing.assert_allclose(tf.cast(y_inf, "float32"), tf.cast(y_inf_ref, "float32"), **tol)
    for grad, grad_ref in zip(grads, grads_ref):
        grad, grad_ref = tf.cast(grad, "float32"), tf.cast(grad_ref, "float32")
        scale = 1.0 + float(tf.reduce_max(tf.abs(grad_ref)))
        np.testing.assert_allclose(grad, grad_ref, rtol=tol["rtol"], atol=tol["atol"] * scale)
    # Both updated their moving statistics once (one traced call each) with the biased variance.
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(fused, name).numpy(), getattr(reference, name).numpy(),
                                   rtol=1e-3 if dtype == "bfloat16" else 1e-5, atol=1e-5)


def test_fused_batchnorm_is_not_used_where_statistics_must_be_global():
    """Two replicas with cross_replica=True keep Keras' synchronised path; a mask keeps Keras'."""
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    x = tf.random.normal((4, 2, 2, 3))
    for cross_replica, fused in ((True, False), (False, True)):
        with strategy.scope():
            bn = BatchNorm(cross_replica=cross_replica)
            bn.build((None, 2, 2, 3))

        @tf.function
        def step(values):
            return strategy.run(lambda v: bn(v, training=True), args=(values,))

        assert ("FusedBatchNormV3" in _graph_ops(step, x)) is fused
    masked = BatchNorm()
    mask = tf.ones((3, 4), bool)
    masked_step = tf.function(lambda v: masked(v, training=True, mask=mask))
    assert "FusedBatchNormV3" not in _graph_ops(masked_step, tf.random.normal((3, 4, 5)))


def test_batchnorm_rejects_bad_arguments():
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        BatchNorm(epsilon=0.0)
    with pytest.raises(TypeError, match="cross_replica"):
        BatchNorm(cross_replica="yes")


def test_image_normalization_matches_numpy_and_round_trips():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    layer = ImageNormalization()
    y = keras.ops.convert_to_numpy(layer(x))
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(y, (x - mean) / std, rtol=1e-5, atol=1e-5)
    assert layer.trainable_weights == [] and layer.weights == []
    custom = ImageNormalization(mean=[0.5], std=[0.25])
    clone = ImageNormalization.from_config(custom.get_config())
    assert clone.mean == (0.5,) and clone.std == (0.25,)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(np.ones((1, 2, 2, 1), "float32"))), 2.0
    )


def test_image_normalization_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = ImageNormalization()
        y = layer(np.full((1, 2, 2, 3), 0.123456, "float32"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(y)[0, 0, 0],
        (0.123456 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
        rtol=1e-6,
    )


def test_image_normalization_errors():
    with pytest.raises(ValueError, match="std"):
        ImageNormalization(std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="same length"):
        ImageNormalization(mean=(0.5, 0.5), std=(0.2,))
    with pytest.raises(TypeError, match="mean"):
        ImageNormalization(mean="abc")
    with pytest.raises(ValueError, match="3 channel statistics but the input has 1 channels"):
        ImageNormalization()(np.zeros((1, 2, 2, 1), "float32"))


def test_tensorflow_saved_model_with_package_layers_loads_and_computes_under_jax(tmp_path):
    """A `.keras` file written under TF loads under JAX (where synchronized=True would raise)
    and gives the same outputs; a BatchNorm config likewise."""
    from sslhsic_tf.models import byol_projector

    # Constant initialisers keep JAX's per-shape compilation at load time cheap; the weights
    # themselves are random (set below) and must come from the file.
    images = keras.Input((None, None, 3))
    x = ImageNormalization()(images)
    x = keras.layers.Conv2D(4, 3, use_bias=False, kernel_initializer="zeros")(x)
    x = BatchNorm(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(images, byol_projector(8, 4, kernel_initializer="zeros")(x))
    rng = np.random.default_rng(3)
    model.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()]
    )
    inputs = rng.uniform(size=(3, 6, 6, 3)).astype("float32")
    model(inputs, training=True)  # non-trivial moving statistics
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert np.all(np.isfinite(expected)) and np.ptp(expected) > 0
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", inputs)
    config = keras.saving.serialize_keras_object(BatchNorm(name="bn"))
    result = run_python(
        f"""
        import json, keras, numpy as np
        import sslhsic_tf.models
        model = keras.models.load_model({str(tmp_path / "m.keras")!r})
        out = np.asarray(model(np.load({str(tmp_path / "x.npy")!r}), training=False))
        bn = keras.saving.deserialize_keras_object(json.loads({json.dumps(config)!r}))
        x = np.arange(12, dtype="float32").reshape(4, 3) ** 2
        y = np.asarray(bn(x, training=True))
        ref = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
        print(json.dumps({{"out": out.tolist(), "sync": bn.synchronized,
                           "cross": bn.cross_replica, "err": float(np.abs(y - ref).max()),
                           "loaded_bn_sync": model.get_layer("bn").synchronized}}))
        """
    )
    np.testing.assert_allclose(np.array(result.pop("out")), expected, rtol=1e-5, atol=1e-5)
    assert result == {"sync": False, "cross": True, "err": pytest.approx(0, abs=1e-4),
                      "loaded_bn_sync": False}
