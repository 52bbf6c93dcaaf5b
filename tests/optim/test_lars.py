"""LARS against an independent NumPy implementation; exclusions by identity; serialisation."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.models import MLP, BatchNorm
from sslhsic_tf.optim import LARS, lars_exclusions
from tests.optim.lars_reference import numpy_lars


def _small_model():
    """Dense (bias) -> BatchNorm -> Dense (no bias, zero kernel: ‖w‖ = 0 on the first step)."""
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="d1")(inputs)
    x = BatchNorm(name="bn")(x)
    x = keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros", name="d2")(x)
    return keras.Model(inputs, x)


def _grads(variables, steps, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in range(steps):
        g = [rng.normal(size=v.shape).astype("float32") for v in variables]
        if s == 1:
            g[1] = np.zeros_like(g[1])  # a zero gradient (trust ratio 1) on the bias
        out.append(g)
    return out


LRS = keras.optimizers.schedules.PiecewiseConstantDecay([0, 1], [0.3, 0.1, 0.05])
HYPER = dict(momentum=0.8, trust_coefficient=0.5, weight_decay=0.1)


def _expected(model, grads, excluded_positions):
    weights = {i: v.numpy() for i, v in enumerate(model.trainable_variables)}
    return numpy_lars(
        weights,
        [dict(enumerate(g)) for g in grads],
        [0.3, 0.1, 0.05][: len(grads)],
        excluded_positions,
        HYPER["momentum"], HYPER["trust_coefficient"], HYPER["weight_decay"],
    )


def test_lars_exclusions_are_biases_and_norm_parameters():
    model = _small_model()
    excluded = lars_exclusions(model)
    bn = model.get_layer("bn")
    assert [id(v) for v in excluded] == [id(model.get_layer("d1").bias), id(bn.gamma), id(bn.beta)]


def test_lars_exclusions_by_owner_not_name():
    class Custom(keras.layers.Layer):
        def build(self, shape):
            # named "bias" but not the layer's bias: adapted
            self.offset = self.add_weight(shape=(2,), name="bias")
            # the layer's bias attribute, under another name: excluded
            self.bias = self.add_weight(shape=(2,), name="b")
            self.inner = MLP([2], batch_norm=True)  # nested layers are walked
            self.inner.build((None, 2))

        def call(self, x):
            return self.inner(x + self.offset + self.bias)

    layer = Custom()
    layer.build((None, 2))
    norm = keras.layers.LayerNormalization()
    norm.build((None, 2))
    conv = keras.layers.Conv2D(2, 1)
    conv.build((None, 2, 2, 1))
    excluded = {id(v) for v in lars_exclusions([layer, norm, conv])}
    dense, bn = layer.inner.dense_layers[0], layer.inner.norm_layers[0]
    expected = [layer.bias, dense.bias, bn.gamma, bn.beta, norm.gamma, norm.beta, conv.bias]
    assert excluded == {id(v) for v in expected}
    assert id(layer.offset) not in excluded and id(conv.kernel) not in excluded
    with pytest.raises(TypeError, match="keras Layer/Model"):
        lars_exclusions([np.zeros(3)])


@pytest.mark.parametrize("compiled", [False, True])
def test_steps_match_numpy(compiled):
    model = _small_model()
    variables = model.trainable_variables
    opt = LARS(LRS, exclude=lars_exclusions(model), **HYPER)
    grads = _grads(variables, 3)
    expected = _expected(model, grads, excluded_positions={1, 2, 3})

    def step(g):
        opt.apply(g, variables)

    step_fn = tf.function(step) if compiled else step
    for g in grads:
        step_fn([tf.constant(x) for x in g])
    assert [v.path for v in opt.excluded_variables] == ["d1/bias", "bn/gamma", "bn/beta"]
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.numpy(), expected[i], rtol=2e-5, atol=1e-6, err_msg=v.path)
    assert int(opt.iterations.numpy()) == 3


def test_without_exclusions_every_variable_is_adapted():
    model = _small_model()
    variables = model.trainable_variables
    opt = LARS(LRS, **HYPER)
    grads = _grads(variables, 2, seed=5)
    expected = _expected(model, grads, excluded_positions=set())
    for g in grads:
        opt.apply(g, variables)
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.numpy(), expected[i], rtol=2e-5, atol=1e-6)
    assert opt.excluded_variables == []


def test_defaults_are_the_recipe():
    opt = LARS(0.1)
    assert (opt.momentum, opt.trust_coefficient, opt.weight_decay) == (0.9, 1e-3, 1e-6)
    # the base class's decoupled decay must not also run: one step equals the reference
    model = _small_model()
    variables = model.trainable_variables
    opt.exclude_variables(lars_exclusions(model))
    grads = _grads(variables, 1, seed=2)
    weights = {i: v.numpy() for i, v in enumerate(variables)}
    expected = numpy_lars(weights, [dict(enumerate(grads[0]))], [0.1], {1, 2, 3}, 0.9, 1e-3, 1e-6)
    opt.apply(grads[0], variables)
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.numpy(), expected[i], rtol=1e-5, atol=1e-7)


def test_mirrored_strategy_uses_the_sum_of_replica_gradients():
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        model = _small_model()
        variables = model.trainable_variables
        opt = LARS(LRS, exclude=lars_exclusions(model), **HYPER)
        opt.build(variables)
    per_replica = [_grads(variables, 2, seed=s) for s in (10, 11)]
    summed = [[a + b for a, b in zip(g0, g1)] for g0, g1 in zip(*per_replica)]
    expected = _expected(model, summed, excluded_positions={1, 2, 3})

    @tf.function
    def step(grads):
        strategy.run(lambda *g: opt.apply(list(g), variables), args=tuple(grads))

    for s in range(2):
        grads = [
            strategy.experimental_distribute_values_from_function(
                lambda ctx, i=i: tf.constant(per_replica[ctx.replica_id_in_sync_group][s][i])
            )
            for i in range(len(variables))
        ]
        step(grads)
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.numpy(), expected[i], rtol=2e-5, atol=1e-6)


def test_config_round_trip_records_exclusions_by_position():
    model = _small_model()
    opt = LARS(0.2, exclude=lars_exclusions(model), **HYPER, clipnorm=1.0, name="enc_lars")
    unbuilt = LARS.from_config(LARS(0.2, **HYPER).get_config())
    assert unbuilt.get_config()["exclude"] is None
    opt.build(model.trainable_variables)
    config = opt.get_config()
    assert config["exclude"] == {"num_variables": 5, "positions": [1, 2, 3]}
    hyper = (config["momentum"], config["trust_coefficient"], config["weight_decay"])
    assert hyper == (0.8, 0.5, 0.1)
    serialized = keras.optimizers.serialize(opt)
    clone = keras.optimizers.deserialize(serialized)
    assert isinstance(clone, LARS) and clone.clipnorm == 1.0 and clone.name == "enc_lars"
    other = _small_model()
    clone.build(other.trainable_variables)
    assert [v.path for v in clone.excluded_variables] == ["d1/bias", "bn/gamma", "bn/beta"]
    wrong = LARS.from_config(config)
    with pytest.raises(ValueError, match="recorded for 5 variables but is being built on 2"):
        wrong.build(other.trainable_variables[:2])
    # identity exclusions given again take precedence over the recorded positions
    again = LARS.from_config(config)
    again.exclude_variables([other.trainable_variables[0]])
    again.build(other.trainable_variables)
    assert [v.path for v in again.excluded_variables] == ["d1/kernel"]


def test_unbuilt_identity_exclusions_warn_when_serialised():
    model = _small_model()
    opt = LARS(0.1, exclude=lars_exclusions(model))
    with pytest.warns(UserWarning, match="cannot record them"):
        config = opt.get_config()
    assert config["exclude"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LARS(0.1).get_config()


def test_keras_save_load_restores_exclusions_and_state(tmp_path):
    model = _small_model()
    model.compile(optimizer=LARS(0.05, exclude=lars_exclusions(model), **HYPER), loss="mse")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, LARS)
    excluded = [v.path for v in loaded.optimizer.excluded_variables]
    assert excluded == ["d1/bias", "bn/gamma", "bn/beta"]
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_errors():
    with pytest.raises(ValueError, match="`momentum` must be in \\[0, 1\\)"):
        LARS(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="`trust_coefficient` must be > 0"):
        LARS(0.1, trust_coefficient=0.0)
    with pytest.raises(ValueError, match="`weight_decay` must be >= 0"):
        LARS(0.1, weight_decay=-1e-6)
    with pytest.raises(TypeError, match="`momentum`"):
        LARS(0.1, momentum="0.9")
    with pytest.raises(ValueError, match="recorded form"):
        LARS(0.1, exclude={"positions": [0]})
    opt = LARS(0.1)
    with pytest.raises(ValueError, match="by identity, not by name"):
        opt.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(TypeError, match="`variables` must be"):
        opt.exclude_variables(["bias"])
    model = _small_model()
    opt.build(model.trainable_variables)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_variables(lars_exclusions(model))
    with pytest.raises(ValueError, match="not built yet"):
        LARS(0.1).excluded_variables
