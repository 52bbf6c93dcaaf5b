"""Pixel augmentations (keras.ops, TensorFlow backend here) against independent references:
`tf.image`'s HSV-based ops applied image by image, and NumPy for blur/solarize/grayscale."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.data import pixel
from sslhsic_tf.data.augment import PixelConfig


def _images(b=6, h=7, w=9, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((b, h, w, 3)).astype(np.float32)
    # Edge cases: gray, black, white, saturated and tied-maximum pixels.
    x[0, 0, :4] = [[0.5, 0.5, 0.5], [0, 0, 0], [1, 1, 1], [1, 1, 0.2]]
    x[-1, 0, :3] = [[1, 0, 0], [0.3, 0.9, 0.9], [0.2, 0.2, 0.7]]
    return x


def _per_image(fn, x, values):
    return np.stack([fn(x[i], float(values[i])).numpy() for i in range(len(x))])


def test_colour_ops_match_tf_image_per_image():
    x = _images()
    rng = np.random.default_rng(1)
    b = len(x)
    delta = rng.uniform(-0.4, 0.4, b).astype(np.float32)
    factor = rng.uniform(0.0, 2.5, b).astype(np.float32)
    hue = rng.uniform(-0.5, 0.5, b).astype(np.float32)
    np.testing.assert_allclose(
        pixel.adjust_brightness(x, delta), _per_image(tf.image.adjust_brightness, x, delta),
        atol=1e-6)
    np.testing.assert_allclose(
        pixel.adjust_contrast(x, factor), _per_image(tf.image.adjust_contrast, x, factor),
        atol=1e-5)
    np.testing.assert_allclose(
        pixel.adjust_saturation(x, factor), _per_image(tf.image.adjust_saturation, x, factor),
        atol=1e-5)
    np.testing.assert_allclose(
        pixel.adjust_hue(x, hue), _per_image(tf.image.adjust_hue, x, hue), atol=1e-5)
    gray = np.repeat(tf.image.rgb_to_grayscale(x).numpy(), 3, axis=-1)
    np.testing.assert_allclose(pixel.grayscale(x), gray, atol=1e-6)


def _np_blur(img, sigma, taps):
    """Separable Gaussian blur, reflect padding, NumPy."""
    if sigma <= 0:
        return img
    r = taps // 2
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img.astype(np.float64), [(r, r), (r, r), (0, 0)], mode="reflect")
    rows = sum(k[j] * pad[:, j:j + img.shape[1]] for j in range(taps))  # along W
    return sum(k[j] * rows[j:j + img.shape[0]] for j in range(taps))  # along H


def test_gaussian_blur_matches_numpy_with_reflect_padding():
    x = _images(b=3, h=11, w=13)
    sigma = np.array([0.7, 0.0, 2.0], np.float32)  # 0: unchanged
    out = pixel.gaussian_blur(x, sigma, 7)
    ref = np.stack([_np_blur(x[i], sigma[i], 7) for i in range(3)])
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out)[1], x[1], rtol=0, atol=1e-6)  # sigma 0: unchanged
    with pytest.raises(ValueError, match="blur taps"):
        pixel.gaussian_blur(x[:, :2, :2], sigma, 7)


def test_solarize_only_selected_images():
    x = _images(b=2)
    out = np.asarray(pixel.solarize(x, np.array([1.0, 0.0]), threshold=0.5))
    np.testing.assert_allclose(out[0], np.where(x[0] >= 0.5, 1 - x[0], x[0]))
    np.testing.assert_array_equal(out[1], x[1])


def _np_luma(x):
    return x[..., 0] * 0.2989 + x[..., 1] * 0.587 + x[..., 2] * 0.114  # torchvision's weights


def _reference_chain(img, p, cfg):
    """One image, the per-image jitter order, applied sequentially: tf.image ops for the "byol"
    style, torchvision's ColorJitter formulas in NumPy for the "torchvision" style."""
    x = np.clip(img, 0, 1)
    if cfg.jitters:
        if cfg.jitter_style == "byol":
            brightness = lambda z: tf.image.adjust_brightness(z, p["brightness"]).numpy()
            contrast = lambda z: tf.image.adjust_contrast(z, p["contrast"]).numpy()
            saturation = lambda z: tf.image.adjust_saturation(z, p["saturation"]).numpy()
        else:  # torchvision: blends with black, the mean luma, the luma
            brightness = lambda z: z * p["brightness"]
            contrast = lambda z: z * p["contrast"] + (1 - p["contrast"]) * _np_luma(z).mean()
            saturation = lambda z: (z * p["saturation"]
                                    + (1 - p["saturation"]) * _np_luma(z)[..., None])
        ops = [
            (cfg.brightness, brightness),
            (cfg.contrast, contrast),
            (cfg.saturation, saturation),
            (cfg.hue, lambda z: tf.image.adjust_hue(z, p["hue"]).numpy()),
        ]
        for op in np.argsort(p["order"], kind="stable"):
            strength, fn = ops[op]
            if strength > 0:
                x = np.clip(fn(x), 0, 1)
    if cfg.grayscale_prob > 0 and p["grayscale"] > 0:
        x = np.repeat(tf.image.rgb_to_grayscale(x).numpy(), 3, axis=-1)
    if cfg.blur_prob > 0:
        x = _np_blur(x, p["blur_sigma"], cfg.taps_for(x.shape[1]))
    if cfg.solarize_prob > 0 and p["solarize"] > 0:
        x = np.where(x >= cfg.solarize_threshold, 1 - x, x)
    return np.clip(x, 0, 1)


@pytest.mark.parametrize(
    "cfg",
    [
        PixelConfig(jitter_prob=0.7, grayscale_prob=0.3, blur_prob=0.5, solarize_prob=0.5,
                    blur_taps=5, jitter_style="byol"),
        PixelConfig(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.3, grayscale_prob=0.0,
                    jitter_style="byol"),
        PixelConfig(hue=0.0, saturation=0.0, grayscale_prob=0.5, jitter_style="byol"),
        PixelConfig(jitter_prob=0.7, grayscale_prob=0.3, blur_prob=0.5, solarize_prob=0.5,
                    blur_taps=5),
        PixelConfig(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.3, grayscale_prob=0.0),
        PixelConfig(hue=0.0, saturation=0.0, grayscale_prob=0.5),
    ],
    ids=["byol", "byol-strong", "byol-no-hue", "torchvision", "torchvision-strong",
         "torchvision-no-hue"],
)
def test_full_pixel_chain_matches_sequential_reference(cfg):
    """Per-image random order, probabilities and strengths, batched without a per-image loop,
    equal the image-by-image sequential reference."""
    x = _images(b=24, h=8, w=8, seed=3)
    u = np.random.default_rng(4).random((24, pixel.NUM_PIXEL_UNIFORMS)).astype(np.float32)
    params = {k: np.asarray(v) for k, v in pixel.pixel_params_from_uniforms(u, cfg).items()}
    out = np.asarray(pixel.apply_pixel_augment(x, params, cfg))
    for i in range(len(x)):
        p = {k: v[i] for k, v in params.items()}
        np.testing.assert_allclose(out[i], _reference_chain(x[i], p, cfg), atol=3e-5,
                                   err_msg=f"image {i}")
    # Planar entry point (the pipeline's) gives the same result.
    planes = np.transpose(x, (3, 0, 1, 2))
    np.testing.assert_allclose(pixel.apply_pixel_augment_planes(planes, params, cfg), out,
                               atol=1e-6)


@pytest.mark.parametrize("style", ["torchvision", "byol"])
def test_params_ranges_and_probabilities(style):
    cfg = PixelConfig(jitter_style=style)  # 0.4 / 0.4 / 0.2 / 0.1, jitter p 0.8, gray p 0.2
    u = np.random.default_rng(0).random((20000, pixel.NUM_PIXEL_UNIFORMS)).astype(np.float32)
    p = {k: np.asarray(v) for k, v in pixel.pixel_params_from_uniforms(u, cfg).items()}
    on = u[:, 0] < 0.8
    if style == "byol":  # additive delta, identity 0
        assert np.all(np.abs(p["brightness"]) <= 0.4)
        assert np.all(p["brightness"][~on] == 0)
    else:  # factor in [0.6, 1.4], identity 1
        assert p["brightness"][on].min() >= 0.6 and p["brightness"][on].max() <= 1.4
        assert abs(p["brightness"][on].mean() - 1.0) < 0.01
        assert np.all(p["brightness"][~on] == 1)
    assert p["contrast"][on].min() >= 0.6 and p["contrast"][on].max() <= 1.4
    assert p["saturation"][on].min() >= 0.8 and p["saturation"][on].max() <= 1.2
    assert np.all(np.abs(p["hue"]) <= 0.1)
    # Without jitter every strength is the identity.
    assert np.all(p["contrast"][~on] == 1)
    assert np.all(p["saturation"][~on] == 1) and np.all(p["hue"][~on] == 0)
    assert abs(on.mean() - 0.8) < 0.01 and abs(p["grayscale"].mean() - 0.2) < 0.01
    assert np.all(p["blur_sigma"] == 0) and np.all(p["solarize"] == 0)
    # All 24 jitter orders occur, about equally often.
    counts = np.unique(np.argsort(p["order"], axis=1), axis=0, return_counts=True)[1]
    assert len(counts) == 24 and counts.min() > 0.8 * 20000 / 24


def test_pixel_augment_seeding_and_per_image_parameters():
    x = np.repeat(_images(b=1, h=8, w=8), 8, axis=0)  # 8 copies of one image
    cfg = PixelConfig(jitter_prob=1.0, grayscale_prob=0.0)
    seed = tf.constant([3, 4], tf.int32)
    a = np.asarray(pixel.pixel_augment(x, seed, cfg))
    np.testing.assert_array_equal(a, pixel.pixel_augment(x, seed, cfg))
    assert not np.allclose(a, pixel.pixel_augment(x, tf.constant([3, 5], tf.int32), cfg))
    # Parameters are drawn per image: the 8 copies come out different.
    flat = a.reshape(8, -1)
    assert min(np.abs(flat[i] - flat[j]).max() for i in range(8) for j in range(i)) > 1e-3
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_dtypes_float16_bfloat16_uint8_in_float32_out():
    x = _images(b=4, h=8, w=8)
    cfg = PixelConfig(jitter_prob=1.0)
    u = np.random.default_rng(0).random((4, pixel.NUM_PIXEL_UNIFORMS)).astype(np.float32)
    params = pixel.pixel_params_from_uniforms(u, cfg)
    ref = np.asarray(pixel.apply_pixel_augment(x, params, cfg))
    for dtype in (tf.float16, tf.bfloat16):
        xd = tf.cast(x, dtype)
        out = pixel.apply_pixel_augment(xd, params, cfg)
        assert out.dtype == tf.float32
        np.testing.assert_allclose(
            out, pixel.apply_pixel_augment(tf.cast(xd, tf.float32), params, cfg), atol=1e-6)
    x8 = np.round(x * 255).astype(np.uint8)
    np.testing.assert_allclose(pixel.apply_pixel_augment(x8, params, cfg),
                               pixel.apply_pixel_augment(x8 / np.float32(255), params, cfg),
                               atol=1e-6)
    assert np.abs(ref).max() <= 1


def test_config_forms():
    """PixelConfig, its ViewConfig, and their JSON dicts (e.g. restored from a model config)
    configure the same augmentation."""
    from sslhsic_tf.data import augment

    x = _images(b=4, h=8, w=8)
    seed = tf.constant([5, 6], tf.int32)
    view = augment.PRESETS["byol"][1]
    ref = np.asarray(pixel.pixel_augment(x, seed, view.pixel))
    for form in (view, view.to_dict(), view.to_dict()["pixel"]):
        np.testing.assert_array_equal(pixel.pixel_augment(x, seed, form), ref)


def test_bad_arguments():
    x = _images(b=2)
    with pytest.raises(TypeError, match="PixelConfig, ViewConfig or dict"):
        pixel.pixel_augment(x, 0, "byol")
    with pytest.raises(TypeError, match="brightnes"):
        pixel.pixel_augment(x, 0, {"brightnes": 0.4})
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        pixel.pixel_augment(x[..., :2], 0, PixelConfig())
