"""CoupledSGD: torch.optim.SGD's update (weight decay in the gradient, then momentum), against a
NumPy computation of that update; the factory's "sgd" uses it with the config's weight decay."""

import keras
import numpy as np
import pytest

from sslhsic_tf import optim


def _torch_sgd_reference(w0, grads, lrs, momentum, weight_decay):
    """torch.optim.SGD (dampening 0, no Nesterov), step by step in float64."""
    w, v = np.array(w0, np.float64), None
    for g, lr in zip(grads, lrs):
        d = np.asarray(g, np.float64) + weight_decay * w
        v = d if v is None else momentum * v + d
        w = w - lr * v
    return w


@pytest.mark.parametrize("momentum,weight_decay", [(0.9, 5e-4), (0.0, 1e-2), (0.9, 0.0)])
def test_matches_torch_update(momentum, weight_decay):
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(4, 3)).astype("float32")
    grads = [rng.normal(size=(4, 3)).astype("float32") for _ in range(6)]
    schedule = optim.WarmupCosine(0.3, warmup_steps=2, total_steps=6)
    lrs = [float(schedule(step)) for step in range(6)]
    variable = keras.Variable(w0)
    opt = optim.CoupledSGD(learning_rate=schedule, momentum=momentum, weight_decay=weight_decay)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    expected = _torch_sgd_reference(w0, grads, lrs, momentum, weight_decay)
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_decay_is_coupled_unlike_keras_sgd():
    """With a zero gradient and momentum 0.9, torch's decay compounds through the momentum:
    after many steps w shrinks about 1/(1 - m) = 10 times faster than Keras' decoupled decay."""
    w0 = np.ones((2,), "float32")
    ours, theirs = keras.Variable(w0), keras.Variable(w0)
    coupled = optim.CoupledSGD(learning_rate=0.01, momentum=0.9, weight_decay=1e-2)
    decoupled = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, weight_decay=1e-2)
    zero = keras.ops.zeros((2,))
    for _ in range(200):
        coupled.apply_gradients([(zero, ours)])
        decoupled.apply_gradients([(zero, theirs)])
    expected = _torch_sgd_reference(w0, [np.zeros(2)] * 200, [0.01] * 200, 0.9, 1e-2)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5)
    shrink_ours, shrink_keras = -np.log(ours.numpy()[0]), -np.log(theirs.numpy()[0])
    assert 7 < shrink_ours / shrink_keras < 11


def test_factory_and_serialisation():
    settings = {**optim.OPTIMIZER_DEFAULTS, "name": "sgd", "base_learning_rate": 0.12,
                "weight_decay": 5e-4, "warmup_fraction": 0.0}
    opt = optim.build_optimizer(settings, total_steps=100, batch_size=512)
    assert isinstance(opt, optim.CoupledSGD)
    assert opt.weight_decay == pytest.approx(5e-4) and opt.momentum == pytest.approx(0.9)
    assert float(opt.learning_rate) == pytest.approx(0.24)  # 0.12 x 512 / 256 at step 0
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, optim.CoupledSGD)
    assert again.get_config()["weight_decay"] == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="`momentum` must be in"):
        optim.CoupledSGD(momentum=1.0)
    with pytest.raises(ValueError, match="`weight_decay` must be a number >= 0"):
        optim.CoupledSGD(weight_decay=-1.0)


def _bn_model():
    """Dense (bias) -> BatchNorm (gamma, beta) -> Dense (no bias)."""
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="d1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dense(2, use_bias=False, name="d2")(x)
    return keras.Model(inputs, x)


def test_excluded_variables_follow_torch_without_decay():
    """torch.optim.SGD with two parameter groups (weight decay 0 on biases and BatchNorm's
    gamma/beta), the recipe of SimCLR/BYOL's SGD runs: the excluded variables take the plain
    momentum step, the others the coupled decay."""
    model = _bn_model()
    variables = model.trainable_variables
    rng = np.random.default_rng(7)
    grads = [[rng.normal(size=v.shape).astype("float32") for v in variables] for _ in range(5)]
    w0 = [v.numpy() for v in variables]
    opt = optim.CoupledSGD(learning_rate=0.1, momentum=0.9, weight_decay=0.05,
                           exclude=optim.norm_and_bias_variables(model))
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(x) for x in g], variables)
    assert [v.path for v in opt.excluded_variables] == ["d1/bias", "bn/gamma", "bn/beta"]
    for i, v in enumerate(variables):
        decay = 0.0 if v.path in ("d1/bias", "bn/gamma", "bn/beta") else 0.05
        expected = _torch_sgd_reference(w0[i], [g[i] for g in grads], [0.1] * 5, 0.9, decay)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=v.path)


def test_ssl_model_compile_excludes_norm_and_bias_when_asked(tmp_path):
    """The factory's setting reaches the optimizer through `SSLModel.compile`; the exclusions
    survive a `.keras` round trip (recorded by position); adamw refuses the setting."""
    from sslhsic_tf import methods
    from tests.methods.common import TINY, tiny_encoder

    def model(exclude):
        settings = {"name": "sgd", "base_learning_rate": 0.12, "weight_decay": 5e-4,
                    "warmup_fraction": 0.0, "exclude_norm_and_bias": exclude}
        return methods.create("simclr", tiny_encoder(), total_steps=10, batch_size=8,
                              num_classes=3, optimizer_config=settings, **TINY["simclr"])

    def sgd_of(ssl_model):
        return ssl_model.optimizer.partition_optimizers["default"]

    excluded = model(True)
    excluded.compile()
    names = {v.path for v in sgd_of(excluded).excluded_variables}
    expected = {v.path for v in optim.norm_and_bias_variables(excluded)
                if any(v is w for w in sgd_of(excluded)._trainable_variables)}
    assert names == expected and any("gamma" in n for n in names) and any("bias" in n for n in names)
    assert not any("kernel" in n for n in names)
    for default in (None, False):  # lightly's recipe: every weight decayed
        plain = model(default)
        plain.compile()
        assert sgd_of(plain).excluded_variables == []
    config = keras.optimizers.serialize(sgd_of(excluded))
    again = keras.optimizers.deserialize(config)
    assert again.exclude_norm_and_bias is True
    assert again.get_config()["exclude"] == sgd_of(excluded).get_config()["exclude"]
    settings = {**optim.OPTIMIZER_DEFAULTS, "name": "adamw", "exclude_norm_and_bias": True}
    with pytest.raises(ValueError, match="'exclude_norm_and_bias'.*leave it unset"):
        optim.build_optimizer(settings, total_steps=10, batch_size=8)
