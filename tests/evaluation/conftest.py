"""Small encoders with BatchNorm and toy image tasks for the evaluation tests."""

import keras
import numpy as np
import pytest


def make_encoder(feature_dim=8, size=8, seed=0, name="tiny_encoder"):
    """Conv 1x1 -> BatchNorm -> ReLU -> global average pool -> Dense: [B, size, size, 3] -> [B, F]."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(6, 1, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)  # as sslhsic_tf.models.BatchNorm
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(feature_dim, name="proj")(x)
    return keras.Model(inputs, outputs, name=name)


def colour_task(num, seed=0, size=8, hidden=True):
    """Two classes of float32 images in [0, 1].

    hidden=True: told apart only by the mean of the blue channel (+-0.08), under large random
    per-image red/green levels, so random frozen features barely see it.
    hidden=False: the whole image is darker or brighter (levels around 0.3 or 0.7).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num)
    if hidden:
        levels = rng.uniform(0.0, 1.0, (num, 1, 1, 3))
        levels[..., 2] = 0.5 + np.where(labels == 1, 0.08, -0.08)[:, None, None]
    else:
        levels = np.where(labels == 1, 0.7, 0.3)[:, None, None, None] + rng.uniform(-0.1, 0.1, (num, 1, 1, 3))
    images = levels + rng.normal(0.0, 0.02, (num, size, size, 3))
    return np.clip(images, 0.0, 1.0).astype(np.float32), labels.astype(np.int64)


@pytest.fixture
def encoder_factory():
    return make_encoder


@pytest.fixture
def colour_data():
    return colour_task
