"""NonFiniteGuard in a plain `fit()`: non-finite logged values stop at their step; non-finite
weights behind finite logs (here BatchNorm's moving mean, unused by the training loss) are found at
the end of the interval, named in the error, and stop the fit there."""

import keras
import numpy as np
import pytest

from sslhsic_tf.training import callbacks as cb


class _SetNaN(keras.callbacks.Callback):
    def __init__(self, variable, at_batch):
        super().__init__()
        self.variable, self.at_batch = variable, at_batch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at_batch:
            self.variable.assign(np.full(tuple(self.variable.shape), np.nan, "float32"))


def _model():
    inputs = keras.Input((3,))
    outputs = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(2, name="dense")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")


@pytest.mark.parametrize("target, at_batch, expected", [
    ("moving_mean", 1, r"weight bn/moving_mean=nan at step 4 \(--on_nonfinite=stop\)"),
    ("kernel", 2, r"loss=nan at step 3 \(--on_nonfinite=stop\)"),
])
def test_guard_stops_at_nonfinite_logs_or_weights(target, at_batch, expected):
    model = _model()
    variable = getattr(model.get_layer("bn" if target == "moving_mean" else "dense"), target)
    guard = cb.NonFiniteGuard("stop")
    x, y = _data()
    with pytest.raises(FloatingPointError, match=expected + r"; no checkpoint was written"):
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                  callbacks=[guard, _SetNaN(variable, at_batch)])
    assert guard.diverged_at == int(expected.split("at step ")[1][0])
    assert model.optimizer.iterations.numpy() == guard.diverged_at  # stopped there, no later epoch
