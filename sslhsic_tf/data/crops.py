"""Random resized crop + flip as pure math on crop boxes and interpolation matrices.

A crop of an image `[H, W, C]` resized to `S x S` is `Wy @ image @ Wx^T`, where `Wy [S, H]` and
`Wx [S, W]` hold the interpolation weights of each output row/column over the input ones
(restricted to the crop box). Batched over images with per-image boxes this is two einsums,
vectorised with no per-image loop, and runs anywhere a matmul does. A horizontal flip is the
reversal of `Wx`'s rows, so it costs nothing.

Interpolation matches `tf.image.resize(crop, (S, S), method, antialias)` (half-pixel centres; Keys
cubic kernel with a = -0.5 for "bicubic", triangle for "bilinear"; taps outside the crop get
weight 0 and each row is renormalised; with `antialias` the kernel is widened by the
downscaling factor).

Crop boxes follow torchvision's `RandomResizedCrop.get_params`: up to `ATTEMPTS` draws of
(area fraction ~ U[scale], log aspect ratio ~ U[log ratio]); `w = round(sqrt(area * r))`,
`h = round(sqrt(area / r))`; the first draw that fits is placed uniformly at an integer offset;
if none fits, a centre crop with the ratio clamped into `ratio`. All attempts are drawn at once
from `NUM_CROP_UNIFORMS` uniforms per image, so the sampler is vectorised.

The math is written against a small NumPy-like namespace `xp`: `keras.ops` (default; used on
an accelerator under any backend, and in tf.data under TensorFlow) or `TF_NAMESPACE`
(TensorFlow ops, used inside tf.data whatever the Keras backend), so there is one
implementation of each formula.
"""

import math

from keras import ops

from sslhsic_tf.data.augment import CropConfig
from sslhsic_tf.utils import random as srandom

ATTEMPTS = 10
# [area draws (ATTEMPTS), log-ratio draws (ATTEMPTS), top, left, flip]
NUM_CROP_UNIFORMS = 2 * ATTEMPTS + 3


class _TFNamespace:
    """The few NumPy-style functions the crop math needs, as plain TensorFlow ops."""

    def __getattr__(self, name):
        import tensorflow as tf

        table = {
            "log": tf.math.log,
            "exp": tf.exp,
            "sqrt": tf.sqrt,
            "round": tf.round,
            "floor": tf.floor,
            "minimum": tf.minimum,
            "maximum": tf.maximum,
            "where": tf.where,
            "abs": tf.abs,
            "clip": tf.clip_by_value,
            "stack": tf.stack,
            "expand_dims": tf.expand_dims,
            "cast": tf.cast,
            "reshape": tf.reshape,
            "einsum": tf.einsum,
            "matmul": tf.linalg.matmul,
            "transpose": tf.transpose,
            "logical_and": tf.logical_and,
            "any": lambda x, axis=None: tf.reduce_any(x, axis=axis),
            "sum": lambda x, axis=None, keepdims=False: tf.reduce_sum(x, axis, keepdims),
            "argmax": lambda x, axis=None: tf.argmax(x, axis=axis, output_type=tf.int32),
            "arange": lambda n, dtype="float32": tf.range(n, dtype=dtype),
            "take_along_axis": lambda x, i, axis: tf.gather(x, i, axis=axis, batch_dims=1),
            "convert_to_tensor": tf.convert_to_tensor,
        }
        if name not in table:
            raise AttributeError(name)
        return table[name]


TF_NAMESPACE = _TFNamespace()


def _f32(xp, x):
    return xp.cast(x, "float32")


def _is_integer(x):
    dtype = getattr(x, "dtype", None)
    return "int" in str(getattr(dtype, "name", dtype))


def crop_boxes_from_uniforms(u, height, width, scale, ratio, flip_prob, xp=ops):
    """Random-resized-crop boxes from uniforms on [0, 1).

    Args:
      u: `[B, NUM_CROP_UNIFORMS]` uniforms.
      height, width: image size: Python ints or `[B]`/scalar tensors (per-image sizes).
      scale: (min, max) area fraction; ratio: (min, max) aspect ratio w / h; flip_prob: float.
      xp: `keras.ops` or `TF_NAMESPACE`.
    Returns:
      `(top, left, crop_h, crop_w, flip)`: four `[B]` float32 tensors holding integers, and a
      `[B]` bool tensor.
    """
    a = ATTEMPTS
    hf = _f32(xp, height)
    wf = _f32(xp, width)
    area = hf * wf
    lo_r, hi_r = math.log(ratio[0]), math.log(ratio[1])
    target = xp.expand_dims(area, -1) * (scale[0] + (scale[1] - scale[0]) * u[:, :a])
    aspect = xp.exp(lo_r + (hi_r - lo_r) * u[:, a : 2 * a])
    cw = xp.round(xp.sqrt(target * aspect))
    ch = xp.round(xp.sqrt(target / aspect))
    h_col = xp.expand_dims(hf, -1)
    w_col = xp.expand_dims(wf, -1)
    fits = xp.logical_and(
        xp.logical_and(cw >= 1.0, cw <= w_col), xp.logical_and(ch >= 1.0, ch <= h_col)
    )
    first = xp.expand_dims(xp.argmax(xp.cast(fits, "int32"), axis=1), -1)
    found = xp.any(fits, axis=1)
    cw = xp.reshape(xp.take_along_axis(cw, first, axis=1), (-1,))
    ch = xp.reshape(xp.take_along_axis(ch, first, axis=1), (-1,))
    # Fallback: the largest centre crop with the aspect ratio clamped into `ratio`.
    in_ratio = wf / hf
    fb_w = xp.where(in_ratio > ratio[1], xp.round(hf * ratio[1]), wf)
    fb_h = xp.where(in_ratio < ratio[0], xp.round(wf / ratio[0]), hf)
    ch = xp.where(found, ch, fb_h)
    cw = xp.where(found, cw, fb_w)
    top = xp.where(found, xp.floor(u[:, 2 * a] * (hf - ch + 1.0)), xp.floor((hf - ch) / 2.0))
    left = xp.where(found, xp.floor(u[:, 2 * a + 1] * (wf - cw + 1.0)), xp.floor((wf - cw) / 2.0))
    flip = u[:, 2 * a + 2] < flip_prob
    return top, left, ch, cw, flip


def _kernel(t, method, xp):
    t = xp.abs(t)
    if method == "bilinear":
        return xp.maximum(1.0 - t, 0.0)
    a = -0.5  # Keys (1981); the value TensorFlow and PIL use.
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return xp.where(t <= 1.0, near, xp.where(t < 2.0, far, 0.0))


def interpolation_matrix(start, length, in_size, out_size, flip=None, method="bicubic",
                         antialias=False, xp=ops):
    """Weights `[B, out_size, in_size]` resampling [start, start + length) to `out_size` pixels.

    Args:
      start, length: `[B]` float32 (integer-valued) crop offsets and lengths along one axis.
      in_size: the axis length (int or scalar tensor); out_size: Python int.
      flip: optional `[B]` bool; reverses the output order (a mirror of the crop).
    """
    start = xp.expand_dims(_f32(xp, start), -1)  # [B, 1]
    length = xp.expand_dims(_f32(xp, length), -1)
    step = length / float(out_size)  # input pixels per output pixel
    o = xp.arange(out_size, dtype="float32") + 0.5  # [out]
    if flip is not None:
        o_flipped = float(out_size) - o
        o = xp.where(xp.expand_dims(flip, -1), o_flipped, o)  # [B, out]
    centres = start + o * step  # [B, out], continuous input coordinate
    j = xp.arange(in_size, dtype="float32") + 0.5  # [in]
    t = j[None, None, :] - xp.expand_dims(centres, -1)  # [B, out, in]
    if antialias:  # stretch the kernel by the downscaling factor
        t = t / xp.expand_dims(xp.maximum(step, 1.0), -1)
    w = _kernel(t, method, xp)
    inside = xp.logical_and(j[None, :] >= start, j[None, :] < start + length)  # [B, in]
    w = xp.where(xp.expand_dims(inside, 1), w, 0.0)
    return w / xp.sum(w, axis=-1, keepdims=True)


def resized_crop(images, top, left, crop_h, crop_w, size, flip=None, method="bicubic",
                 antialias=False, planar=False, xp=ops):
    """Crops each image of `[B, H, W, C]` to its box and resizes it to `size x size`.

    Integer images are converted to [0, 1] first. The result is not clipped (bicubic can
    overshoot [0, 1] slightly).
    Returns:
      float32 `[B, size, size, C]`, or with `planar=True` `[C, B, size, size]` (channel planes,
      the layout `pixel.apply_pixel_augment_planes` works in; it saves two layout passes).
    """
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("resized_crop needs images with a static height and width")
    # Channel planes [C, B, H, W]; transposing before the float cast moves 4x fewer bytes.
    x = _f32(xp, xp.transpose(images, (3, 0, 1, 2)))
    if _is_integer(images):
        x = x / 255.0
    wy = interpolation_matrix(top, crop_h, height, size, None, method, antialias, xp)
    wx = interpolation_matrix(left, crop_w, width, size, flip, method, antialias, xp)
    x = xp.matmul(wy[None], x)  # [C, B, size, W]
    x = xp.matmul(x, xp.transpose(wx, (0, 2, 1))[None])  # [C, B, size, size]
    return x if planar else xp.transpose(x, (1, 2, 3, 0))


def random_resized_crop(images, seed, config):
    """On-device random resized crop + flip (keras.ops; jit-compatible).

    Args:
      images: `[B, H, W, 3]` (uint8 or float in [0, 1]), static H and W.
      seed: as in `sslhsic_tf.utils.random` (e.g. a stateless `[2]` seed per step).
      config: a `CropConfig`.
    Returns:
      float32 `[B, size, size, 3]` in [0, 1].
    """
    if not isinstance(config, CropConfig):
        raise TypeError(f"config must be a CropConfig, got {type(config).__name__}")
    if len(images.shape) != 4:
        raise ValueError(f"images must be [B, H, W, C], got shape {images.shape}")
    batch = ops.shape(images)[0]
    u = srandom.uniform((batch, NUM_CROP_UNIFORMS), seed=seed)
    top, left, ch, cw, flip = crop_boxes_from_uniforms(
        u, images.shape[1], images.shape[2], config.scale, config.ratio, config.flip_prob
    )
    out = resized_crop(
        images, top, left, ch, cw, config.size, flip, config.interpolation, config.antialias
    )
    return ops.clip(out, 0.0, 1.0)


__all__ = [
    "ATTEMPTS",
    "NUM_CROP_UNIFORMS",
    "TF_NAMESPACE",
    "crop_boxes_from_uniforms",
    "interpolation_matrix",
    "random_resized_crop",
    "resized_crop",
]
