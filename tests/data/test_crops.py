"""Random resized crops: boxes against a plain-Python transcription of torchvision's sampler,
interpolation matrices against `tf.image.resize` of the sliced crop."""

import math

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from sslhsic_tf.data import crops
from sslhsic_tf.data.augment import CropConfig


def _reference_box(u, height, width, scale, ratio):
    """torchvision RandomResizedCrop.get_params, fed with the given uniforms."""
    a = crops.ATTEMPTS
    area = height * width
    for k in range(a):
        target = area * (scale[0] + (scale[1] - scale[0]) * float(u[k]))
        lr = (math.log(ratio[0]), math.log(ratio[1]))
        aspect = math.exp(lr[0] + (lr[1] - lr[0]) * float(u[a + k]))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = math.floor(float(u[2 * a]) * (height - h + 1))
            left = math.floor(float(u[2 * a + 1]) * (width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@pytest.mark.parametrize(
    "height,width,scale,ratio",
    [
        (32, 32, (0.08, 1.0), (3 / 4, 4 / 3)),
        (40, 70, (0.2, 1.0), (3 / 4, 4 / 3)),
        (50, 20, (0.9, 1.0), (3.0, 4.0)),  # mostly the fallback (ratio too wide for the image)
        (30, 30, (0.05, 0.14), (3 / 4, 4 / 3)),
    ],
)
def test_boxes_match_torchvision_sampler(height, width, scale, ratio):
    u = np.random.default_rng(0).random((500, crops.NUM_CROP_UNIFORMS)).astype(np.float32)
    for xp in (ops, crops.TF_NAMESPACE):
        top, left, h, w, flip = (np.asarray(t) for t in crops.crop_boxes_from_uniforms(
            u, height, width, scale, ratio, 0.5, xp=xp))
        got = np.stack([top, left, h, w], 1).astype(int)
        want = np.array([_reference_box(r, height, width, scale, ratio) for r in u])
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(flip, u[:, -1] < 0.5)
        assert (got[:, 0] + got[:, 2] <= height).all() and (got[:, 1] + got[:, 3] <= width).all()


def test_boxes_with_per_image_sizes():
    u = np.random.default_rng(1).random((50, crops.NUM_CROP_UNIFORMS)).astype(np.float32)
    hs = np.random.default_rng(2).integers(10, 90, 50)
    ws = np.random.default_rng(3).integers(10, 90, 50)
    top, left, h, w, _ = crops.crop_boxes_from_uniforms(
        u, tf.constant(hs), tf.constant(ws), (0.08, 1.0), (3 / 4, 4 / 3), 0.5,
        xp=crops.TF_NAMESPACE)
    for i in range(50):
        want = _reference_box(u[i], int(hs[i]), int(ws[i]), (0.08, 1.0), (3 / 4, 4 / 3))
        assert (int(top[i]), int(left[i]), int(h[i]), int(w[i])) == want


@pytest.mark.parametrize("method", ["bicubic", "bilinear"])
@pytest.mark.parametrize("antialias", [False, True])
def test_resized_crop_matches_tf_image_resize(method, antialias):
    rng = np.random.default_rng(5)
    images = rng.random((5, 40, 50, 3)).astype(np.float32)
    boxes = np.array([[3, 5, 20, 30], [0, 0, 40, 50], [10, 7, 9, 13], [1, 2, 37, 11],
                      [30, 40, 10, 10]], np.float32)
    flip = np.array([False, True, False, True, False])
    # TensorFlow's non-antialiased bicubic kernel reads its weights from a 1024-entry table
    # (offsets quantised to 1/1024), so it differs from the exact Keys weights by up to ~1e-3;
    # every other case is computed exactly by both and agrees to float32 rounding.
    atol = 1.5e-3 if (method, antialias) == ("bicubic", False) else 2e-5
    for size in (16, 24, 64):
        out = np.asarray(crops.resized_crop(images, *boxes.T, size, flip, method, antialias))
        for i, (t, l, h, w) in enumerate(boxes.astype(int)):
            ref = tf.image.resize(images[i, t:t + h, l:l + w], (size, size), method=method,
                                  antialias=antialias).numpy()
            if flip[i]:
                ref = ref[:, ::-1]
            np.testing.assert_allclose(out[i], ref, atol=atol, err_msg=f"box {i} size {size}")


def test_bicubic_upsampling_is_exact_keys_kernel():
    """When upsampling, antialiasing changes nothing, and TF's antialiased path
    (scale_and_translate, exact weights) must equal the non-antialiased matrices exactly."""
    images = np.random.default_rng(9).random((2, 30, 30, 3)).astype(np.float32)
    boxes = np.array([[2, 3, 11, 17], [0, 0, 30, 30]], np.float32)
    out = np.asarray(crops.resized_crop(images, *boxes.T, 37, antialias=False))
    for i, (t, l, h, w) in enumerate(boxes.astype(int)):
        ref = tf.image.resize(images[i, t:t + h, l:l + w], (37, 37), method="bicubic",
                              antialias=True).numpy()
        np.testing.assert_allclose(out[i], ref, atol=2e-5)


def test_resized_crop_uint8_planar_and_tf_namespace_agree():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 32, 32], [4, 2, 20, 25], [10, 10, 5, 8]], np.float32).T
    nhwc = np.asarray(crops.resized_crop(images, *boxes, 32))
    # Identity box at the same size reproduces the image exactly (Keys kernel at integers).
    np.testing.assert_allclose(nhwc[0], images[0] / 255.0, atol=1e-6)
    planar = np.asarray(crops.resized_crop(images, *boxes, 32, planar=True,
                                           xp=crops.TF_NAMESPACE))
    np.testing.assert_allclose(np.transpose(planar, (1, 2, 3, 0)), nhwc, atol=1e-6)


def test_random_resized_crop_on_device():
    images = np.random.default_rng(7).integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    cfg = CropConfig(16, scale=(0.3, 1.0))
    seed = tf.constant([1, 2], tf.int32)
    out = np.asarray(crops.random_resized_crop(images, seed, cfg))
    assert out.shape == (4, 16, 16, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out, crops.random_resized_crop(images, seed, cfg))
    with pytest.raises(TypeError, match="CropConfig"):
        crops.random_resized_crop(images, seed, {"size": 16})
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        crops.random_resized_crop(images[0], seed, cfg)


def test_crop_statistics_follow_the_config():
    u = np.random.default_rng(8).random((4000, crops.NUM_CROP_UNIFORMS)).astype(np.float32)
    top, left, h, w, flip = (np.asarray(t) for t in crops.crop_boxes_from_uniforms(
        u, 224, 224, (0.08, 1.0), (3 / 4, 4 / 3), 0.5))
    area = h * w / 224**2
    assert area.min() >= 0.07 and area.max() <= 1.0
    assert 0.45 < area.mean() < 0.6  # U[0.08, 1] mean 0.54, fewer large crops fit
    aspect = w / h
    assert aspect.min() > 0.7 and aspect.max() < 1.4
    assert abs(np.log(aspect).mean()) < 0.02  # log-uniform around 1
    assert abs(flip.mean() - 0.5) < 0.03
