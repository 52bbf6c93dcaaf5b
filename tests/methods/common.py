"""Small encoders and batches for training-model tests."""

import keras
import numpy as np

from sslhsic_tf import methods
from sslhsic_tf.models.layers import BatchNorm

# Tiny head sizes per method (each method's `test_kwargs`), so that tests run in seconds.
TINY = {name: dict(methods.get(name).test_kwargs) for name in methods.names()}


def tiny_encoder(width=8, seed=0):
    """A small functional CNN with BatchNorm: images [B, H, W, 3] -> [B, 2*width]."""
    init = keras.initializers.HeNormal(seed=seed)
    x = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=init)(x)
    h = BatchNorm()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", kernel_initializer=init)(h)
    h = BatchNorm()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, h, name="tiny_encoder")


def random_batch(batch_size=8, size=8, num_views=2, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    views = tuple(rng.random((batch_size, size, size, 3), dtype=np.float32) for _ in range(num_views))
    return {"views": views, "label": rng.integers(0, num_classes, batch_size).astype("int32")}
