"""Small real encoders for export tests: fixed input normalisation, convolutions, BatchNorm.

BatchNorm moving statistics and affine parameters are randomised, so inference and training
mode give clearly different features (a mode mix-up cannot go unnoticed).
"""

import keras
import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def tiny_encoder(seed=0, width=4, kernel_regularizer=None, name="tiny_encoder"):
    """`[B, H, W, 3]` in [0, 1] -> `[B, 2 * width]` float32; every trainable weight matters."""
    # Seeded initialisers, not keras.utils.set_random_seed (which imports TensorFlow under JAX).
    init = [keras.initializers.HeNormal(seed=seed + i) for i in range(2)]
    images = keras.Input((None, None, 3), name="images")
    x = keras.layers.Normalization(
        mean=list(MEAN), variance=[s * s for s in STD], name="normalize"
    )(images)
    x = keras.layers.Conv2D(
        width, 3, padding="same", use_bias=False, kernel_initializer=init[0],
        kernel_regularizer=kernel_regularizer, name="conv1",
    )(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(
        2 * width, 3, strides=2, padding="same", use_bias=False, kernel_initializer=init[1],
        name="conv2",
    )(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU()(x)
    features = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(images, features, name=name)
    randomize_batchnorm(model, seed)
    return model


def randomize_batchnorm(model, seed):
    """Sets every BatchNorm's gamma, beta, moving mean and variance to random values."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.uniform(-0.2, 0.5, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0.0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))


def images(batch, height, width, seed=0):
    """Random float32 RGB images in [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, (batch, height, width, 3)).astype("float32")


def copy_of(model):
    """An independent functional copy with the same weights (for training-mode references)."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
