"""save_keras / load_keras: `.keras` round trips (encoder, a training model, across backends)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from sslhsic_tf import serving
from tests.helpers import run_python
from tests.serving.encoders import copy_of, images, tiny_encoder


@keras.saving.register_keras_serializable(package="sslhsic_tf_tests")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak, warmup_steps):
        self.peak = peak
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        ramp = (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps)
        return self.peak * ops.minimum(1.0, ramp)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


@keras.saving.register_keras_serializable(package="sslhsic_tf_tests")
class TwoViewModel(keras.Model):
    """A training model in the package's style: an encoder, a head, a custom train_step."""

    def __init__(self, encoder, projection_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.projection_dim = projection_dim
        self.projector = keras.layers.Dense(projection_dim, name="projector")

    def call(self, x, training=False):
        return self.projector(self.encoder(x, training=training))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z1 = self(data, training=True)
            z2 = self(tf.reverse(data, axis=[2]), training=True)
            loss = tf.reduce_mean(tf.square(z1 - z2)) + tf.reduce_mean(tf.square(z1 - 1.0))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "projection_dim": self.projection_dim,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb) > 0
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_encoder_round_trip(tmp_path):
    encoder = tiny_encoder(seed=31)
    x = images(3, 8, 8, seed=32)
    path = serving.save_keras(encoder, tmp_path / "encoder.keras")
    assert os.listdir(tmp_path) == ["encoder.keras"]  # no temp file left
    loaded = serving.load_keras(path)
    _assert_same_weights(encoder, loaded)
    np.testing.assert_allclose(
        loaded(x, training=False).numpy(), encoder(x, training=False).numpy(), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        loaded(x, training=True).numpy(), copy_of(encoder)(x, training=True).numpy(),
        rtol=1e-5, atol=1e-6,
    )


def test_training_model_round_trip_keeps_optimizer_state(tmp_path):
    data = images(4, 8, 8, seed=33)
    model = TwoViewModel(tiny_encoder(seed=34))
    model.compile(optimizer=keras.optimizers.SGD(LinearWarmup(0.05, 10), momentum=0.9))
    model.fit(data, batch_size=4, epochs=2, verbose=0)
    serving.save_keras(model, tmp_path / "train.keras")
    loaded = serving.load_keras(tmp_path / "train.keras")
    assert isinstance(loaded, TwoViewModel)
    assert isinstance(loaded.optimizer._learning_rate, LinearWarmup)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    _assert_same_weights(model, loaded)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Resuming gives the same next step as continuing (momentum and schedule restored).
    model.fit(data, batch_size=4, epochs=1, verbose=0)
    loaded.fit(data, batch_size=4, epochs=1, verbose=0)
    for x, y in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_save_refuses_models_that_safe_mode_could_not_reload(tmp_path):
    encoder = tiny_encoder(seed=35)
    inputs = keras.Input((8, 8, 3))
    double = keras.layers.Lambda(lambda t: t * 2.0, name="double")
    with_lambda = keras.Model(inputs, double(encoder(inputs)))
    with pytest.raises(TypeError, match="layer 'double' is a keras.layers.Lambda"):
        serving.save_keras(with_lambda, tmp_path / "a.keras")
    with_custom = keras.Model(inputs, Unregistered(name="custom")(encoder(inputs)))
    with pytest.raises(TypeError, match=r"layer 'custom': class .*Unregistered is not registered"):
        serving.save_keras(with_custom, tmp_path / "b.keras")
    assert os.listdir(tmp_path) == []

    # A file with Python code in it (plain model.save) is refused at load: safe_mode stays on.
    with_lambda.save(tmp_path / "unsafe.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        serving.load_keras(tmp_path / "unsafe.keras")


def test_path_errors(tmp_path):
    encoder = tiny_encoder(seed=36)
    with pytest.raises(ValueError, match="must end in '.keras'"):
        serving.save_keras(encoder, tmp_path / "encoder.h5")
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        serving.save_keras(encoder.layers[1], tmp_path / "layer.keras")
    with pytest.raises(FileNotFoundError, match="no .keras file"):
        serving.load_keras(tmp_path / "missing.keras")
    serving.save_keras(encoder, tmp_path / "e.keras")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        serving.save_keras(encoder, tmp_path / "e.keras")
    serving.save_keras(encoder, tmp_path / "e.keras", overwrite=True)


def test_keras_file_saved_under_jax_loads_under_tensorflow(tmp_path):
    # Training may run on JAX; export runs on TensorFlow: the .keras file is the bridge.
    x = images(2, 8, 8, seed=37)
    np.save(tmp_path / "x.npy", x)
    result = run_python(
        f"""
        import json
        import numpy as np
        import keras
        from sslhsic_tf import serving
        from tests.serving.encoders import tiny_encoder
        encoder = tiny_encoder(seed=38)
        x = np.load({str(tmp_path / "x.npy")!r})
        serving.save_keras(encoder, {str(tmp_path / "jax.keras")!r})
        print(json.dumps({{"backend": keras.backend.backend(),
                           "features": np.asarray(encoder(x, training=False)).tolist()}}))
        """,
        backend="jax",
    )
    assert result["backend"] == "jax"
    loaded = serving.load_keras(tmp_path / "jax.keras")
    np.testing.assert_allclose(
        loaded(x, training=False).numpy(), result["features"], rtol=1e-5, atol=1e-5
    )


def test_with_dtype_policy_rebuilds_a_bf16_encoder_in_float32():
    """The float32 copy of a bf16 ResNet (nested in a wrapper model) has the same weights and
    names, computes every layer in float32, and gives the bf16 features up to bf16 rounding."""
    from sslhsic_tf import models

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        resnet = models.resnet(10, 0.25, cifar_stem=True)
        inputs = keras.Input((32, 32, 3))
        wrapper = keras.Model(inputs, keras.layers.Dense(4)(resnet(inputs)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(0).uniform(size=(6, 32, 32, 3)).astype("float32")
    wrapper(x, training=True)  # moves the BatchNorm statistics away from their initial values
    copy = serving.with_dtype_policy(wrapper, "float32")
    inner = copy.layers[1]
    assert isinstance(inner, keras.Model) and inner is not resnet
    assert {layer.compute_dtype for layer in inner.layers} == {"float32"}
    assert "bfloat16" in {layer.compute_dtype for layer in resnet.layers}
    assert [v.path for v in copy.weights] == [v.path for v in wrapper.weights]
    for a, b in zip(copy.get_weights(), wrapper.get_weights()):
        np.testing.assert_array_equal(a, b)  # copied, not recomputed
    bf16, f32 = np.asarray(wrapper(x, training=False)), np.asarray(copy(x, training=False))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, bf16, rtol=0.05, atol=0.05 * np.abs(bf16).max())
    back = serving.with_dtype_policy(copy, "mixed_bfloat16")
    np.testing.assert_allclose(np.asarray(back(x, training=False)), bf16, rtol=1e-2, atol=1e-2)


def test_with_dtype_policy_errors():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="must be a functional or Sequential"):
        serving.with_dtype_policy(Subclassed())
    with pytest.raises(TypeError, match="must be a keras.Model"):
        serving.with_dtype_policy("encoder")
    with pytest.raises(ValueError, match="`policy` must be a Keras dtype policy name"):
        serving.with_dtype_policy(tiny_encoder(), "float8")
