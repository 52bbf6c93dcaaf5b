"""A Keras 3 ResNet encoder from an exported SavedModel's own weights (no retraining).

The SavedModel exports of this library keep every variable under its Keras path
(`stem_conv/kernel:0`, `stage1_block1_bn1/moving_mean:0`, ...). `resnet_from_saved_model`
builds `models.resnet` with the given architecture, copies each variable by path, and checks
that the rebuilt encoder gives the SavedModel's features; the padding of the strided layers
(not recorded by older exports) is the one whose features match.
"""

import numpy as np
import tensorflow as tf

from sslhsic_tf import models
from sslhsic_tf.models.resnet import PADDINGS

#: Largest |difference| of the features (relative to their scale) the rebuilt encoder may show.
TOLERANCE = 1e-4


def _by_path(saved):
    return {v.name.split(":")[0]: v.numpy() for v in saved.variables}


def resnet_from_saved_model(path, *, depth, width_multiplier, cifar_stem, image_size,
                            padding=None, seed=0):
    """Returns `(encoder, padding)`: a float32 `models.resnet` with the weights of the SavedModel
    at `path`, whose features on random images equal the SavedModel's (`TOLERANCE`).

    `padding`: "symmetric" or "same"; None tries both. Raises ValueError when a variable is
    missing or unused, or when no padding reproduces the features.
    """
    saved = tf.saved_model.load(str(path))
    weights = _by_path(saved)
    images = np.random.default_rng(seed).uniform(size=(4, *image_size, 3)).astype("float32")
    reference = saved(images, training=False).numpy()
    scale = float(np.abs(reference).max()) or 1.0
    errors = {}
    for option in ([padding] if padding else list(PADDINGS)):
        encoder = models.resnet(depth, width_multiplier, cifar_stem=cifar_stem, padding=option)
        paths = {w.path: w for w in encoder.weights}
        missing = sorted(set(paths) - set(weights))
        unused = sorted(set(weights) - set(paths))
        if missing or unused:
            raise ValueError(
                f"{path}: the SavedModel's variables do not match ResNet-{depth} "
                f"x{width_multiplier:g} ({'CIFAR' if cifar_stem else 'ImageNet'} stem): missing "
                f"{missing[:3]}, unused {unused[:3]}")
        for key, variable in paths.items():
            variable.assign(weights[key])
        features = encoder(images, training=False).numpy()
        errors[option] = float(np.abs(features - reference).max()) / scale
        if errors[option] <= TOLERANCE:
            return encoder, option
    raise ValueError(f"{path}: no padding reproduces the SavedModel's features (largest relative "
                     f"difference by padding: {errors}); the architecture differs")
