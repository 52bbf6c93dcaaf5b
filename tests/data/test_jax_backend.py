"""The JAX backend (one fresh process, since Keras picks its backend at import): the pipeline
emits crops only, the keras.ops pixel and crop code runs jitted and equals the TensorFlow result
computed here from the same inputs."""

import numpy as np

from sslhsic_tf.data import crops, pipeline, pixel, sources
from sslhsic_tf.data.augment import PixelConfig
from tests.helpers import run_python

CODE = r"""
import json
import numpy as np, jax
from sslhsic_tf.data import crops, device, pipeline, pixel, sources
from sslhsic_tf.data.augment import PixelConfig
from sslhsic_tf.utils import random as srandom

out = {}
src = sources.demo("test")
b = next(iter(pipeline.pretrain_dataset(src, "cifar10", 8, seed=3).as_numpy_iterator()))
out["views"] = [v for v in b["views"]]
out["labels"] = b["label"]
rng = np.random.default_rng(0)
x = rng.random((6, 8, 8, 3)).astype("float32")
u = rng.random((6, pixel.NUM_PIXEL_UNIFORMS)).astype("float32")
cfg = PixelConfig(jitter_prob=0.7, grayscale_prob=0.3, blur_prob=0.5, solarize_prob=0.5,
                  blur_taps=5)
f = jax.jit(lambda x, u: pixel.apply_pixel_augment(x, pixel.pixel_params_from_uniforms(u, cfg),
                                                    cfg))
out["pixel"] = f(x, u)
images = rng.integers(0, 256, (3, 20, 30, 3)).astype("uint8")
boxes = np.array([[0, 0, 20, 30], [2, 5, 11, 17], [9, 1, 8, 20]], "float32").T
flip = np.array([False, True, True])
out["crop"] = jax.jit(lambda im: crops.resized_crop(im, *boxes, 16, flip))(images)
aug = jax.jit(lambda im, step: device.augment_views(im, srandom.stateless_seed(1, step),
                                                   "issl_tinyimagenet_coarse"))
a1, a2 = aug(images, 4), aug(images, 4)
pix = jax.jit(lambda v, step: device.pixel_augment_views(v, srandom.stateless_seed(1, step),
                                                           "cifar10"))
p = pix(tuple(out["views"]), 2)
checks = {
    "aug_shapes": [list(a.shape) for a in a1],
    "aug_deterministic": all(bool((np.asarray(p1) == np.asarray(p2)).all())
                             for p1, p2 in zip(a1, a2)),
    "aug_range": [float(min(np.asarray(a).min() for a in a1)),
                  float(max(np.asarray(a).max() for a in a1))],
    "pix_range": [float(np.asarray(p[0]).min()), float(np.asarray(p[0]).max())],
}
try:
    pipeline.pretrain_dataset(src, "cifar10", 8, pixel_stage="pipeline")
    checks["pipeline_stage_error"] = None
except ValueError as e:
    checks["pipeline_stage_error"] = str(e)
np.savez(OUT, **{
    "view0": out["views"][0], "view1": out["views"][1], "labels": out["labels"],
    "pixel": np.asarray(out["pixel"]), "crop": np.asarray(out["crop"])})
print(json.dumps(checks))
"""


def test_jax_backend_device_split_and_equal_results(tmp_path):
    path = tmp_path / "jax.npz"
    checks = run_python(f"OUT = {str(path)!r}\n" + CODE, backend="jax")
    got = np.load(path)
    # 1. tf.data under JAX stops after the (pure TensorFlow) geometric stage: its views equal
    #    the TensorFlow-backend pipeline with pixel_stage="device".
    ref = next(iter(pipeline.pretrain_dataset(sources.demo("test"), "cifar10", 8, seed=3,
                                              pixel_stage="device")))
    np.testing.assert_array_equal(got["view0"], ref["views"][0].numpy())
    np.testing.assert_array_equal(got["view1"], ref["views"][1].numpy())
    np.testing.assert_array_equal(got["labels"], ref["label"].numpy())
    # 2. The keras.ops pixel chain, jitted under JAX, equals the TensorFlow result.
    rng = np.random.default_rng(0)
    x = rng.random((6, 8, 8, 3)).astype("float32")
    u = rng.random((6, pixel.NUM_PIXEL_UNIFORMS)).astype("float32")
    cfg = PixelConfig(jitter_prob=0.7, grayscale_prob=0.3, blur_prob=0.5, solarize_prob=0.5,
                      blur_taps=5)
    want = pixel.apply_pixel_augment(x, pixel.pixel_params_from_uniforms(u, cfg), cfg)
    np.testing.assert_allclose(got["pixel"], want, atol=2e-5)
    # 3. So does the interpolation-matrix crop (same boxes, flips).
    images = rng.integers(0, 256, (3, 20, 30, 3)).astype("uint8")
    boxes = np.array([[0, 0, 20, 30], [2, 5, 11, 17], [9, 1, 8, 20]], "float32").T
    flip = np.array([False, True, True])
    np.testing.assert_allclose(got["crop"], crops.resized_crop(images, *boxes, 16, flip),
                               atol=2e-5)
    # 4. Whole on-device augmentation: shapes, range, same seed -> same views.
    assert checks["aug_shapes"] == [[3, 64, 64, 3], [3, 64, 64, 3]]
    assert checks["aug_deterministic"]
    assert 0.0 <= checks["aug_range"][0] and checks["aug_range"][1] <= 1.0
    assert 0.0 <= checks["pix_range"][0] and checks["pix_range"][1] <= 1.0
    assert "needs the TensorFlow backend" in checks["pipeline_stage_error"]
