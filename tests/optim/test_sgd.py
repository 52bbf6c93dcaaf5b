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
