"""View/eval configs: the presets hold the recipes' numbers; validation; dict round trips."""

import dataclasses
import json

import pytest

from sslhsic_tf.data import augment
from sslhsic_tf.data.augment import CropConfig, EvalConfig, PixelConfig, ViewConfig


def test_byol_preset_is_the_recipe():
    v1, v2 = augment.PRESETS["byol"]
    for v in (v1, v2):
        assert v.crop == CropConfig(224, (0.08, 1.0), (3 / 4, 4 / 3), 0.5, "bicubic", False)
        p = v.pixel
        assert (p.jitter_prob, p.brightness, p.contrast, p.saturation, p.hue) == (
            0.8, 0.4, 0.4, 0.2, 0.1)
        assert p.grayscale_prob == 0.2 and p.blur_sigma == (0.1, 2.0)
        assert p.solarize_threshold == 0.5 and p.taps_for(224) == 23
    assert (v1.pixel.blur_prob, v2.pixel.blur_prob) == (1.0, 0.1)
    assert (v1.pixel.solarize_prob, v2.pixel.solarize_prob) == (0.0, 0.2)
    assert v1.pixel.jitter_style == v2.pixel.jitter_style == "byol"  # the reference's tf.image


def test_jitter_styles_of_the_presets():
    """Every preset but the BYOL / SSL-HSIC ImageNet pair jitters as torchvision does (issue 17:
    the additive brightness cost SimCLR 8 kNN points on CIFAR-10 in 3 epochs)."""
    for name, views in augment.PRESETS.items():
        want = "byol" if name == "byol" else "torchvision"
        assert {v.pixel.jitter_style for v in views} == {want}, name
    with pytest.raises(ValueError, match=r"PixelConfig.jitter_style must be one of"):
        augment.PixelConfig(jitter_style="tf")


def test_cifar_tinyimagenet_and_multicrop_presets():
    c1, c2 = augment.PRESETS["cifar10"]
    assert c1.crop.size == 32 and c1.crop.scale == (0.08, 1.0)
    assert c1.pixel.blur_prob == c2.pixel.blur_prob == 0.0
    assert (c1.pixel.solarize_prob, c2.pixel.solarize_prob) == (0.0, 0.2)
    t1, t2 = augment.PRESETS["issl_tinyimagenet"]
    assert t1 == t2 and t1.crop.size == 64 and t1.crop.scale == (0.2, 1.0)
    p = t1.pixel
    assert (p.brightness, p.contrast, p.saturation, p.hue, p.grayscale_prob, p.blur_prob) == (
        0.4, 0.4, 0.4, 0.1, 0.1, 0.0)
    coarse = augment.PRESETS["issl_tinyimagenet_coarse"][0].pixel
    assert (coarse.brightness, coarse.contrast, coarse.saturation, coarse.hue) == (
        0.8, 0.8, 0.8, 0.2)
    assert coarse.blur_prob == 0.5
    views = augment.PRESETS["issl_multicrop"]
    assert [v.crop.size for v in views] == [224] * 2 + [96] * 6
    assert views[0].crop.scale == (0.14, 1.0) and views[-1].crop.scale == (0.05, 0.14)
    assert views[-1].pixel.taps_for(96) == 9
    custom = augment.issl_multicrop(num_global=2, global_size=160, num_local=4, local_size=96)
    assert [v.crop.size for v in custom] == [160, 160, 96, 96, 96, 96]
    with pytest.raises(ValueError, match="num_local"):
        augment.issl_multicrop(num_local=-1)


def test_coarsen_caps_hue():
    v = ViewConfig(CropConfig(32), PixelConfig(hue=0.3, blur_prob=0.2))
    c = augment.coarsen(v)
    assert c.pixel.hue == 0.5 and c.pixel.blur_prob == 0.2 and c.pixel.brightness == 0.8


def test_view_config_dict_round_trip_through_json():
    for name, views in augment.PRESETS.items():
        for v in views:
            back = ViewConfig.from_dict(json.loads(json.dumps(v.to_dict())))
            assert back == v, name
    assert augment.resolve_views([v.to_dict() for v in augment.PRESETS["byol"]]) == \
        augment.PRESETS["byol"]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: CropConfig(0), "CropConfig.size"),
        (lambda: CropConfig(32, scale=(0.0, 1.0)), "CropConfig.scale"),
        (lambda: CropConfig(32, scale=(0.5, 1.2)), "CropConfig.scale"),
        (lambda: CropConfig(32, ratio=(2.0, 1.0)), "CropConfig.ratio"),
        (lambda: CropConfig(32, flip_prob=1.5), "CropConfig.flip_prob"),
        (lambda: CropConfig(32, interpolation="area"), "CropConfig.interpolation"),
        (lambda: PixelConfig(hue=0.6), "PixelConfig.hue"),
        (lambda: PixelConfig(brightness=-0.1), "PixelConfig.brightness"),
        (lambda: PixelConfig(blur_taps=4), "PixelConfig.blur_taps"),
        (lambda: PixelConfig(grayscale_prob=True), "PixelConfig.grayscale_prob"),
        (lambda: EvalConfig(32, crop_fraction=0.0), "EvalConfig.crop_fraction"),
        (lambda: EvalConfig(32, probe_mode="x"), "EvalConfig.probe_mode"),
        (lambda: augment.resolve_views("simclr_typo"), "unknown preset"),
        (lambda: augment.resolve_views([]), "non-empty"),
        (lambda: ViewConfig.from_dict({"crop": {"size": 8}, "extra": 1}), "unknown ViewConfig"),
    ],
)
def test_bad_configs_raise_naming_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_types_and_eval_presets():
    with pytest.raises(TypeError, match="views\\[1\\]"):
        augment.resolve_views([augment.PRESETS["byol"][0], 3])
    with pytest.raises(TypeError, match="ViewConfig.crop"):
        ViewConfig(crop=32)
    assert augment.resolve_eval("imagenet").resize_to == 256
    assert augment.resolve_eval(64) == EvalConfig(64)
    assert augment.resolve_eval("cifar10").probe_mode == "pad_crop"
    with pytest.raises(dataclasses.FrozenInstanceError):
        augment.PRESETS["byol"][0].crop.size = 3
