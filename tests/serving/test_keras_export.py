"""export_keras (endpoint `serve`) reloaded by keras.layers.TFSMLayer inside a Keras 3 model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf import serving
from tests.serving.encoders import images, tiny_encoder


def test_tfsm_layer_in_a_keras3_model_matches_the_encoder(tmp_path):
    encoder = tiny_encoder(seed=21)
    x = images(3, 8, 12, seed=22)
    expected = encoder(x, training=False).numpy()
    meta = serving.export_keras(encoder, tmp_path / "k", image_size=(8, 12))
    assert meta["kind"] == "keras_export_archive" and meta["feature_dim"] == 8
    assert serving.read_export_metadata(tmp_path / "k") == meta

    layer = keras.layers.TFSMLayer(str(tmp_path / "k"), call_endpoint=serving.ENDPOINT)
    head = keras.layers.Dense(2, name="head")
    inputs = keras.Input((8, 12, 3))
    model = keras.Model(inputs, head(layer(inputs)))
    features = layer(x)
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-5, atol=1e-6)
    # In training mode too the endpoint is the inference encoder (BatchNorm moving statistics).
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-6)
    logits = model(x).numpy()
    np.testing.assert_allclose(logits, head(expected).numpy(), rtol=1e-5, atol=1e-5)
    assert len(layer.weights) == len(encoder.weights)

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"got shape\] \[3 8 12 2\]"):
        layer(x[..., :2])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside \[0, 1\]"):
        layer(x * 255.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"got shape\] \[3 12 8 3\]"):
        layer(np.swapaxes(x, 1, 2))


def test_export_keras_refuses_an_existing_path(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "data.csv").write_text("1,2")
    with pytest.raises(FileExistsError, match="exists"):
        serving.export_keras(tiny_encoder(seed=23), tmp_path / "k", image_size=8)
    with pytest.raises(TypeError, match="image_size"):
        serving.export_keras(tiny_encoder(seed=23), tmp_path / "j", image_size="8")
