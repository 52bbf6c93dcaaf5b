"""ImageNet-stem encoders as KerasHub presets: `keras_hub.models.ResNetBackbone.from_preset(DIR)`
with the preset's `ResNetImageConverter` gives the encoder's features (the last feature map,
averaged over space), for basic blocks and bottlenecks; what cannot export says why."""

import numpy as np
import pytest

from sslhsic_tf import models, serving

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is an optional dependency "
                                "(pip install -e '.[keras_hub]')")


def _with_statistics(encoder, seed):
    """Non-trivial BatchNorm statistics, so that a wrong mapping of them cannot pass."""
    rng = np.random.default_rng(seed)
    for w in encoder.weights:
        if "moving_mean" in w.path:
            w.assign(rng.normal(size=w.shape).astype("float32") * 0.1)
        elif "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype("float32"))
    return encoder


@pytest.mark.parametrize("depth", [18, 50])
def test_preset_loads_with_the_same_features(depth, tmp_path):
    encoder = _with_statistics(models.resnet(depth, 1, cifar_stem=False, padding="symmetric"),
                               seed=depth)
    serving.export_keras_hub_preset(encoder, tmp_path / "preset")
    backbone = keras_hub.models.ResNetBackbone.from_preset(str(tmp_path / "preset"))
    converter = keras_hub.layers.ResNetImageConverter.from_preset(str(tmp_path / "preset"))
    x = np.random.default_rng(1).uniform(size=(2, 64, 64, 3)).astype("float32")
    ours = np.asarray(encoder(x, training=False))
    maps = np.asarray(backbone(converter(x)))
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), ours, rtol=1e-4,
                               atol=1e-5 * np.abs(ours).max())
    # The stage outputs agree too (KerasHub's P2-P5 are ours).
    pyramid = models.feature_pyramid(encoder)(x)
    hub_pyramid = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert sorted(hub_pyramid.pyramid_outputs) == ["P2", "P3", "P4", "P5"]
    np.testing.assert_allclose(np.asarray(pyramid["P5"]), maps, rtol=1e-4,
                               atol=1e-5 * np.abs(maps).max())


def test_what_cannot_export_says_why(tmp_path):
    cases = [(models.resnet(18, 1, cifar_stem=True, padding="symmetric"), "CIFAR stem"),
             (models.resnet(18, 0.5, cifar_stem=False, padding="symmetric"), "64 stem filters"),
             (models.resnet(18, 1, cifar_stem=False, padding="same"), "padding='symmetric'")]
    for encoder, message in cases:
        with pytest.raises(ValueError, match=message):
            serving.export_keras_hub_preset(encoder, tmp_path / "x")
    assert not (tmp_path / "x").exists()
