"""The package's ResNet-18 (CIFAR stem) through export_hub and .keras, at 16x16 pixels."""

import numpy as np
import tensorflow as tf

from sslhsic_tf import serving
from sslhsic_tf.models import resnet, resnet_feature_dim
from tests.serving.encoders import copy_of, images, randomize_batchnorm


def test_resnet18_cifar_exports_and_round_trips(tmp_path):
    encoder = resnet(18, cifar_stem=True)
    randomize_batchnorm(encoder, seed=41)
    x = images(4, 16, 16, seed=42)
    expected = encoder(x, training=False).numpy()
    expected_training = copy_of(encoder)(x, training=True).numpy()
    assert expected.shape == (4, resnet_feature_dim(18))

    meta = serving.export_hub(encoder, tmp_path / "hub", image_size=16)
    assert meta["feature_dim"] == 512 and meta["input_shape"] == [16, 16, 3]
    loaded = tf.saved_model.load(str(tmp_path / "hub"))
    assert len(loaded.trainable_variables) == len(encoder.trainable_variables)
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        loaded(x, training=True).numpy(), expected_training, rtol=1e-4, atol=1e-4
    )
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(loaded(x, training=True))
    assert all(g is not None for g in tape.gradient(loss, loaded.trainable_variables))

    serving.save_keras(encoder, tmp_path / "resnet18.keras")
    reloaded = serving.load_keras(tmp_path / "resnet18.keras")
    np.testing.assert_allclose(reloaded(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)
