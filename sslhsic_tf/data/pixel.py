"""Pixel-level augmentations in keras.ops: batched `[B, H, W, 3]`, per-image parameters `[B]`.

Written once, run in two places: inside tf.data under the TensorFlow backend, and inside a
(jitted) training step on an accelerator under any backend (the JAX path, where tf.data stops
after the geometric part). Images are float RGB in [0, 1]; computation is float32.

`pixel_augment(images, seed, config)` = `apply_pixel_augment(images, sample_pixel_params(...))`.
The split lets tf.data draw each image's parameters from that image's own stateless seed
(`pixel_params_from_uniforms` on per-image uniforms) and apply them after `.batch()`.

Two colour-jitter styles (`PixelConfig.jitter_style`): "torchvision" (`ColorJitter`: brightness
and saturation as blends with black and with the luma, contrast as a blend with the image's mean
luma) and "byol" (`tf.image`, the BYOL/SSL-HSIC reference's semantics: additive brightness,
contrast about each channel's mean, saturation in HSV space). HSV saturation and hue are computed
in closed form from max/min of (r, g, b) rather than by a full RGB -> HSV -> RGB round trip; the
results equal `tf.image.adjust_saturation/adjust_hue` to float32 rounding.

The random order of the four jitter ops is per image with no per-image loop. Each op is
followed by a clip, so the ops do not commute; each image's sequence is split at its hue
position: three "slots" run before one batched hue pass and three after, and in each slot an
image applies its next op or nothing (identity parameters). Brightness, contrast and saturation
are all affine per pixel, so a slot evaluates one combined formula `x A + B` whatever op each
image takes.
"""

from keras import ops

from sslhsic_tf.data.augment import resolve_pixel
from sslhsic_tf.utils import random as srandom

# Per image: [jitter on, brightness, contrast, saturation, hue, 4 order keys, grayscale on,
# blur on, blur sigma, solarize on]. Brightness is a factor (identity 1) in the torchvision
# style and a delta (identity 0) in the byol style.
NUM_PIXEL_UNIFORMS = 13
LUMA = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale

# Internally a batch is a tuple of three channel planes `[B, H, W]`: channel-wise max/min and
# the per-channel formulas are then plain elementwise ops on contiguous arrays, cheaper on a CPU
# than reductions and slices over a trailing axis of size 3.


def _img(v):
    """`[B]` -> `[B, 1, 1]`, to broadcast a per-image value over a plane."""
    return ops.reshape(v, (-1, 1, 1))


def _as_float(images):
    dtype = getattr(images.dtype, "name", images.dtype)
    x = ops.cast(images, "float32")
    return x / 255.0 if "int" in str(dtype) else x


def _planes(images):
    return tuple(ops.unstack(_as_float(images), num=3, axis=-1))


def _stack(planes):
    return ops.stack(planes, axis=-1)


def _fmod(x, m):
    """Floor modulo for floats (`x - m floor(x / m)`), cheaper than a generic mod."""
    return x - m * ops.floor(x * (1.0 / m))


def _clip01(planes):
    return tuple(ops.minimum(ops.maximum(p, 0.0), 1.0) for p in planes)


def _value_chroma(planes):
    r, g, b = planes
    v = ops.maximum(ops.maximum(r, g), b)
    return v, v - ops.minimum(ops.minimum(r, g), b)


def _jitter_slot(planes, delta=None, factor=None, saturation=None):
    """One slot of the jitter chain, clip included: per image, brightness `+ delta`, contrast
    `(x - mean_c) factor + mean_c`, HSV saturation times `saturation`; identity values (0, 1,
    1) leave an image unchanged. Each image has at most one non-identity value per slot.

    All three are affine per pixel, `x' = x A + B`: brightness/contrast with per-image A and
    per-channel B; saturation with A = ratio, B = V (1 - ratio), ratio = min(f, V / C) (see
    `adjust_saturation`). Since ratio = 1 where f = 1 (V >= C), they combine in one pass.
    """
    a = 1.0 if factor is None else _img(factor)
    offsets = [0.0, 0.0, 0.0]
    if delta is not None:
        offsets = [_img(delta)] * 3
    if factor is not None:
        offsets = [o + (1.0 - a) * ops.mean(p, axis=(1, 2), keepdims=True)
                   for o, p in zip(offsets, planes)]
    if saturation is None:
        out = tuple(p * a + o for p, o in zip(planes, offsets))
    else:
        v, c = _value_chroma(planes)
        ratio = ops.minimum(_img(saturation), v / ops.maximum(c, 1e-12))
        scale = ratio * a
        shift = v * (1.0 - ratio)
        out = tuple(p * scale + (shift + o) for p, o in zip(planes, offsets))
    return _clip01(out)


def _torchvision_slot(planes, brightness=None, contrast=None, saturation=None):
    """One slot of the torchvision-style chain, clip included: per image, brightness `x f`,
    contrast `x f + (1 - f) mean(luma)`, saturation `x f + (1 - f) luma`; identity factors (1)
    leave an image unchanged and each image has at most one non-identity factor per slot, so
    the three combine in one affine pass `x A + B`."""
    a = 1.0
    offset = 0.0
    for factor in (brightness, contrast, saturation):
        if factor is not None:
            a = a * _img(factor)
    if contrast is not None or saturation is not None:
        gray = _gray(planes)
        if contrast is not None:
            offset = offset + (1.0 - _img(contrast)) * ops.mean(gray, axis=(1, 2), keepdims=True)
        if saturation is not None:
            offset = offset + (1.0 - _img(saturation)) * gray
    return _clip01(tuple(p * a + offset for p in planes))


def _hue(planes, delta):
    """HSV hue + `delta` (fraction of a turn, per image) mod 1; value and chroma unchanged."""
    r, g, b = planes
    v, c = _value_chroma(planes)
    inv = 1.0 / ops.where(c > 0, c, 1.0)
    h6 = ops.where(
        v == r, (g - b) * inv, ops.where(v == g, (b - r) * inv + 2.0, (r - g) * inv + 4.0)
    )
    h6 = ops.where(c > 0, h6, 0.0) + 6.0 * _img(delta)  # hue in sixths of a turn
    out = []
    for n in (5.0, 3.0, 1.0):  # r, g, b: x = V - C clip(min(k, 4 - k), 0, 1), k = n + h mod 6
        k = _fmod(h6 + n, 6.0)
        out.append(v - c * ops.minimum(ops.maximum(ops.minimum(k, 4.0 - k), 0.0), 1.0))
    return tuple(out)


def _gray(planes):
    r, g, b = planes
    return r * LUMA[0] + g * LUMA[1] + b * LUMA[2]


def adjust_brightness(images, delta):
    """`images + delta` per image; `[B, H, W, 3]`, delta `[B]` (no clip)."""
    return _as_float(images) + ops.reshape(delta, (-1, 1, 1, 1))


def adjust_contrast(images, factor):
    """`(x - mean) * factor + mean` with the mean of each image's channel over H, W (no clip)."""
    x = _as_float(images)
    mean = ops.mean(x, axis=(1, 2), keepdims=True)
    return (x - mean) * ops.reshape(factor, (-1, 1, 1, 1)) + mean


def adjust_saturation(images, factor):
    """HSV saturation times `factor` `[B]`, clipped to [0, 1]; hue and value unchanged.

    With V = max(r, g, b), C = V - min(r, g, b), S = C / V, every channel is V - C k(hue) with
    k in [0, 1], so scaling S to S' = min(S f, 1) gives x' = V - (V - x) min(f, V / C).
    """
    planes = _planes(images)
    v, c = _value_chroma(planes)
    ratio = ops.minimum(_img(factor), v / ops.maximum(c, 1e-12))
    return _stack([v - (v - p) * ratio for p in planes])


def adjust_hue(images, delta):
    """HSV hue shifted by `delta` `[B]` (fraction of a turn), modulo 1."""
    return _stack(_hue(_planes(images), delta))


def grayscale(images, apply=None):
    """Luma on all three channels, for the images where `apply` `[B]` is true (all if None)."""
    planes = _planes(images)
    gray = _gray(planes)
    if apply is None:
        return _stack([gray] * 3)
    on = _img(apply) > 0
    return _stack([ops.where(on, gray, p) for p in planes])


def solarize(images, apply=None, threshold=0.5):
    """`x -> 1 - x` where `x >= threshold`, for the images where `apply` `[B]` is true."""
    x = _as_float(images)
    flipped = ops.where(x >= threshold, 1.0 - x, x)
    if apply is None:
        return flipped
    return ops.where(ops.reshape(apply, (-1, 1, 1, 1)) > 0, flipped, x)


def blur_matrix(sigma, length, taps):
    """`[B, length, length]` matrix of a 1-D Gaussian blur (reflect padding).

    `sigma` `[B]`; an image with sigma <= 0 gets the identity. Row o holds the kernel
    `exp(-t^2 / 2 sigma^2)` (normalised over `taps` taps) centred on o, with indices
    reflected at the borders (`-i`, `2 (length - 1) - i`), as torchvision pads.
    """
    radius = taps // 2
    if radius >= length:
        raise ValueError(
            f"blur taps ({taps}) must be < 2 * image side ({length}); set PixelConfig.blur_taps"
        )
    offsets = ops.arange(-radius, radius + 1, dtype="float32")  # [taps]
    s = ops.reshape(ops.maximum(sigma, 1e-6), (-1, 1))
    w = ops.exp(-0.5 * ops.square(offsets[None, :] / s))
    delta = ops.cast(ops.equal(offsets, 0.0), "float32")[None, :]
    w = ops.where(ops.reshape(sigma, (-1, 1)) > 0, w, delta)
    w = w / ops.sum(w, axis=1, keepdims=True)  # [B, taps]
    # Static index table: row o, tap t reads pixel reflect(o + t - radius).
    idx = [[o + t - radius for t in range(taps)] for o in range(length)]
    idx = [[-i if i < 0 else (2 * (length - 1) - i if i >= length else i) for i in row]
           for row in idx]
    onehot = ops.one_hot(ops.convert_to_tensor(idx, "int32"), length, dtype="float32")
    return ops.einsum("bt,otl->bol", w, onehot)  # [B, out, in]


def _blur(planes, sigma, taps):
    height, width = planes[0].shape[1], planes[0].shape[2]
    mw = blur_matrix(sigma, width, taps)
    mh = mw if height == width else blur_matrix(sigma, height, taps)
    return tuple(ops.einsum("boh,bhp->bop", mh, ops.einsum("bpw,bhw->bhp", mw, p))
                 for p in planes)


def gaussian_blur(images, sigma, taps):
    """Separable Gaussian blur with per-image `sigma` `[B]` (<= 0: unchanged), `taps` odd."""
    return _stack(_blur(_planes(images), sigma, taps))


def pixel_params_from_uniforms(u, config):
    """Per-image parameters from uniforms `[B, NUM_PIXEL_UNIFORMS]` on [0, 1).

    Returns a dict of `[B]` float32 tensors (`order`: `[B, 4]` sort keys for brightness,
    contrast, saturation, hue); an image without jitter gets identity values.
    """
    config = resolve_pixel(config)
    u = ops.cast(u, "float32")
    on = u[:, 0] < config.jitter_prob

    def factor(strength, col):
        lo = max(0.0, 1.0 - strength)
        return ops.where(on, lo + (1.0 + strength - lo) * col, 1.0)

    if config.jitter_style == "torchvision":
        brightness = factor(config.brightness, u[:, 1])
    else:
        brightness = ops.where(on, (2.0 * u[:, 1] - 1.0) * config.brightness, 0.0)
    return {
        "brightness": brightness,
        "contrast": factor(config.contrast, u[:, 2]),
        "saturation": factor(config.saturation, u[:, 3]),
        "hue": ops.where(on, (2.0 * u[:, 4] - 1.0) * config.hue, 0.0),
        "order": u[:, 5:9],
        "grayscale": ops.cast(u[:, 9] < config.grayscale_prob, "float32"),
        "blur_sigma": ops.where(
            u[:, 10] < config.blur_prob,
            config.blur_sigma[0] + (config.blur_sigma[1] - config.blur_sigma[0]) * u[:, 11],
            0.0,
        ),
        "solarize": ops.cast(u[:, 12] < config.solarize_prob, "float32"),
    }


def sample_pixel_params(seed, batch_size, config):
    """Per-image parameters for `batch_size` images from one `seed` (see utils.random)."""
    u = srandom.uniform((batch_size, NUM_PIXEL_UNIFORMS), seed=seed)
    return pixel_params_from_uniforms(u, config)


def _color_jitter(planes, params, config):
    keys = params["order"]
    others = keys[:, :3]  # brightness, contrast, saturation
    op_order = ops.cast(ops.argsort(others, axis=1), "int32")  # [B, 3] op ids in run order
    n_before = ops.sum(ops.cast(others < keys[:, 3:4], "int32"), axis=1)  # ops before hue

    def slot(planes, i, active):
        op = ops.where(active, op_order[:, i], -1)
        if config.jitter_style == "torchvision":
            return _torchvision_slot(
                planes,
                ops.where(op == 0, params["brightness"], 1.0) if config.brightness > 0 else None,
                ops.where(op == 1, params["contrast"], 1.0) if config.contrast > 0 else None,
                ops.where(op == 2, params["saturation"], 1.0) if config.saturation > 0 else None,
            )
        return _jitter_slot(
            planes,
            ops.where(op == 0, params["brightness"], 0.0) if config.brightness > 0 else None,
            ops.where(op == 1, params["contrast"], 1.0) if config.contrast > 0 else None,
            ops.where(op == 2, params["saturation"], 1.0) if config.saturation > 0 else None,
        )

    for i in range(3):
        planes = slot(planes, i, i < n_before)
    if config.hue > 0:
        planes = _clip01(_hue(planes, params["hue"]))
    for i in range(3):
        planes = slot(planes, i, i >= n_before)
    return planes


def apply_pixel_augment_planes(planes, params, config):
    """`apply_pixel_augment` on channel planes: `[3, B, H, W]` (or a tuple of three `[B, H, W]`)
    float in [0, 1] -> float32 `[B, H, W, 3]` in [0, 1]."""
    config = resolve_pixel(config)
    if not isinstance(planes, (tuple, list)):
        if len(planes.shape) != 4 or planes.shape[0] != 3:
            raise ValueError(f"planes must be [3, B, H, W], got shape {tuple(planes.shape)}")
        planes = (planes[0], planes[1], planes[2])
    planes = _clip01(tuple(ops.cast(p, "float32") for p in planes))
    if config.jitters:
        planes = _color_jitter(planes, params, config)
    if config.grayscale_prob > 0:
        on = _img(params["grayscale"]) > 0
        gray = _gray(planes)
        planes = tuple(ops.where(on, gray, p) for p in planes)
    if config.blur_prob > 0:
        planes = _blur(planes, params["blur_sigma"], config.taps_for(planes[0].shape[2]))
    if config.solarize_prob > 0:
        on = _img(params["solarize"]) > 0
        t = config.solarize_threshold
        planes = tuple(ops.where(ops.logical_and(on, p >= t), 1.0 - p, p) for p in planes)
    return _stack(_clip01(planes))


def apply_pixel_augment(images, params, config):
    """Jitter (p), grayscale (p), blur (p), solarize (p), clip: `[B, H, W, 3]` -> float32 in [0, 1].

    `params` from `pixel_params_from_uniforms`/`sample_pixel_params`. Steps whose probability
    (or strength) in `config` is 0 are skipped at trace time. uint8 images are scaled to [0, 1].
    """
    if len(images.shape) != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3], got shape {tuple(images.shape)}")
    return apply_pixel_augment_planes(_planes(images), params, config)


def pixel_augment(images, seed, config):
    """Pixel augmentation of a batch with per-image random parameters drawn from `seed`.

    Args:
      images: `[B, H, W, 3]` float in [0, 1] (or uint8), static H, W.
      seed: None, int, `keras.random.SeedGenerator` or a stateless `[2]` seed.
      config: `PixelConfig` (or a `ViewConfig` / dict, see `augment.resolve_pixel`).
    Returns:
      float32 `[B, H, W, 3]` in [0, 1].
    """
    config = resolve_pixel(config)
    if len(images.shape) != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3], got shape {tuple(images.shape)}")
    params = sample_pixel_params(seed, ops.shape(images)[0], config)
    return apply_pixel_augment(images, params, config)
