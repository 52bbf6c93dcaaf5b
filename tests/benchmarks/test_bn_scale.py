"""`benchmarks/bn_scale.py`: an encoder rescaled gives the same features times the factor."""

import numpy as np
import pytest

from benchmarks import bn_scale
from sslhsic_tf import models


def _trained_like_encoder():
    """A ResNet-10 x0.125 whose BatchNorm statistics and affine weights are not the identity."""
    encoder = models.resnet(10, 0.125, cifar_stem=True)
    rng = np.random.default_rng(0)
    encoder(np.zeros((1, 16, 16, 3), "float32"))
    for layer in bn_scale.batch_norms(encoder):
        shape = np.asarray(layer.gamma).shape
        layer.gamma.assign(rng.uniform(0.1, 0.4, shape).astype("float32"))
        layer.beta.assign(rng.normal(0.0, 0.1, shape).astype("float32"))
        layer.moving_mean.assign(rng.normal(0.0, 0.5, shape).astype("float32"))
        layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    return encoder


def test_rescaled_encoder_gives_the_features_times_the_factor():
    encoder = _trained_like_encoder()
    images = np.random.default_rng(1).uniform(size=(4, 16, 16, 3)).astype("float32")
    before = np.asarray(encoder(images, training=False))
    gamma, _ = bn_scale.scale_of(encoder)
    bn_scale.rescale(encoder, 4.0)
    after = np.asarray(encoder(images, training=False))
    np.testing.assert_allclose(after / 4.0, before, rtol=1e-2, atol=1e-2 * np.abs(before).max())
    assert bn_scale.scale_of(encoder)[0] == pytest.approx(4 * gamma, rel=1e-5)
    with pytest.raises(ValueError, match="--factor must be > 0"):
        bn_scale.rescale(encoder, -1.0)
