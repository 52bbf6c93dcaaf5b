"""Augmentation settings as data: per-view crop and pixel configs, the paper presets, eval settings.

A view is produced in two stages:

1. geometric (`CropConfig`): random resized crop (area fraction ~ U[scale], log-uniform aspect
   ratio in `ratio`, bicubic resize to `size`) and a horizontal flip; TensorFlow inside tf.data,
   or `sslhsic_tf.data.crops.random_resized_crop` (keras.ops) on an accelerator;
2. pixel (`PixelConfig`): colour jitter in a random per-image order, grayscale, Gaussian blur,
   solarize, clip to [0, 1]; `sslhsic_tf.data.pixel.pixel_augment` (keras.ops), run either
   inside tf.data (TensorFlow backend) or inside the training step (any backend).

Views are float32 RGB in [0, 1]; ImageNet mean/std normalisation happens inside the encoder.

Presets (`PRESETS`, tuples of `ViewConfig`):
- `"byol"`: the BYOL/SSL-HSIC ImageNet pair at 224 px (recipes.md), blur p 1.0 / 0.1, solarize
  p 0.0 / 0.2.
- `"cifar10"`: 32 px, area U[0.08, 1], jitter 0.4/0.4/0.2/0.1 p 0.8, grayscale 0.2, no blur,
  solarize 0.0 / 0.2.
- `"issl_tinyimagenet"`: ISSL (CISSL/DISSL) TinyImageNet 2 x 64 px, crop scale (0.2, 1),
  jitter 0.4/0.4/0.4/0.1 p 0.8, grayscale 0.1, no blur; `"issl_tinyimagenet_coarse"`: the same
  passed through `coarsen` (jitter strengths doubled, blur p 0.5 added); `"issl_cifar10"`: the
  same (not coarsened) at 32 px.
- `"issl_multicrop"`: 2 x 224 global crops (scale (0.14, 1)) + 6 x 96 local crops
  (scale (0.05, 0.14)), colour strength 1.0 (jitter 0.8/0.8/0.8/0.2 p 0.8), grayscale 0.2,
  blur p 0.5; `"issl_multicrop_coarse"`: `coarsen` of it. Other layouts: `issl_multicrop(...)`.

The multi-crop scale ranges (0.14, 1) / (0.05, 0.14) are SwAV's, which the ISSL multi-crop runs
follow; the recipe does not list them.
"""

import dataclasses
from typing import Optional, Tuple

_INTERPOLATIONS = ("bicubic", "bilinear")
#: Colour-jitter semantics (see PixelConfig).
JITTER_STYLES = ("torchvision", "byol")


def _check_prob(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_nonneg(name, value, upper=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value!r}")


def _check_range(name, value, low, high):
    """A pair (min, max) of numbers with low < min <= max <= high; returned as floats."""
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{name} must be a pair (min, max) of numbers, got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (low < a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} < min <= max <= {high}, got {value!r}")
    return (a, b)


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int (square output side), got {value!r}")


@dataclasses.dataclass(frozen=True)
class CropConfig:
    """Geometric part of a view: random resized crop to `size` x `size`, then a flip.

    Attributes:
      size: output side in pixels.
      scale: range of the crop's area as a fraction of the image area, sampled uniformly.
      ratio: range of the crop's aspect ratio (width / height), sampled log-uniformly.
      flip_prob: probability of a horizontal flip.
      interpolation: "bicubic" (recipes) or "bilinear".
      antialias: widen the kernel when downscaling (as PIL does); False matches the
        BYOL/SSL-HSIC TensorFlow reference (`tf.image.resize(..., "bicubic")`).
    """

    size: int
    scale: Tuple[float, float] = (0.08, 1.0)
    ratio: Tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_prob: float = 0.5
    interpolation: str = "bicubic"
    antialias: bool = False

    def __post_init__(self):
        _check_size("CropConfig.size", self.size)
        object.__setattr__(self, "scale", _check_range("CropConfig.scale", self.scale, 0.0, 1.0))
        object.__setattr__(
            self, "ratio", _check_range("CropConfig.ratio", self.ratio, 0.0, float("inf"))
        )
        _check_prob("CropConfig.flip_prob", self.flip_prob)
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"CropConfig.interpolation must be one of {_INTERPOLATIONS}, "
                f"got {self.interpolation!r}"
            )
        if not isinstance(self.antialias, bool):
            raise ValueError(f"CropConfig.antialias must be a bool, got {self.antialias!r}")


@dataclasses.dataclass(frozen=True)
class PixelConfig:
    """Pixel part of a view, applied in this order: jitter, grayscale, blur, solarize, clip.

    Colour jitter (with probability `jitter_prob`, the four ops in a random order per image,
    each followed by a clip to [0, 1]), in one of two styles (`jitter_style`):
      "torchvision" (torchvision's `ColorJitter`, which the public CIFAR recipes and the ISSL
      code use), factors f ~ U[max(0, 1 - s), 1 + s] for strength s:
        brightness: x f;  contrast: x f + (1 - f) mean(luma(x)) (one mean per image);
        saturation: x f + (1 - f) luma(x) (per pixel);
      "byol" (the BYOL / SSL-HSIC reference code, `tf.image` semantics):
        brightness: additive delta ~ U[-brightness, brightness];
        contrast: x f + (1 - f) mean_c(x) about each channel's mean (`tf.image.adjust_contrast`);
        saturation: HSV saturation times f, clipped to [0, 1] (`tf.image.adjust_saturation`);
      hue (both): shift ~ U[-hue, hue] of the HSV hue, modulo 1, hue <= 0.5.
    The additive brightness is much stronger on dark images than torchvision's factor; on
    CIFAR-10 it cost SimCLR 8 kNN points in a 3-epoch run, so every preset except
    the BYOL / SSL-HSIC ImageNet pair uses "torchvision".
    grayscale_prob: probability of replacing RGB by luma (0.2989, 0.5870, 0.1140) on 3 channels.
    blur_prob, blur_sigma: Gaussian blur with sigma ~ U[blur_sigma] in output pixels,
      separable, reflect padding.
    blur_taps: odd kernel length; None scales it with the view size W as
      `2 * ((W // 10) // 2) + 1` (BYOL's rule: 23 taps at 224 px, 9 at 96, 7 at 64, 3 at 32).
    solarize_prob, solarize_threshold: x -> 1 - x where x >= threshold.
    """

    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0
    blur_sigma: Tuple[float, float] = (0.1, 2.0)
    blur_taps: Optional[int] = None
    solarize_prob: float = 0.0
    solarize_threshold: float = 0.5
    jitter_style: str = "torchvision"

    def __post_init__(self):
        if self.jitter_style not in JITTER_STYLES:
            raise ValueError(
                f"PixelConfig.jitter_style must be one of {JITTER_STYLES}, got "
                f"{self.jitter_style!r}"
            )
        for name in ("jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob"):
            _check_prob(f"PixelConfig.{name}", getattr(self, name))
        for name in ("brightness", "contrast", "saturation"):
            _check_nonneg(f"PixelConfig.{name}", getattr(self, name))
        _check_nonneg("PixelConfig.hue", self.hue, upper=0.5)
        object.__setattr__(
            self,
            "blur_sigma",
            _check_range("PixelConfig.blur_sigma", self.blur_sigma, 0.0, float("inf")),
        )
        if self.blur_taps is not None and (
            isinstance(self.blur_taps, bool)
            or not isinstance(self.blur_taps, int)
            or self.blur_taps < 1
            or self.blur_taps % 2 == 0
        ):
            raise ValueError(
                f"PixelConfig.blur_taps must be None or an odd positive int, got {self.blur_taps!r}"
            )
        _check_nonneg("PixelConfig.solarize_threshold", self.solarize_threshold, upper=1.0)

    @property
    def jitters(self):
        """True when colour jitter can change an image."""
        return self.jitter_prob > 0 and (
            self.brightness > 0 or self.contrast > 0 or self.saturation > 0 or self.hue > 0
        )

    def taps_for(self, width):
        """Blur kernel length for views `width` pixels wide."""
        if self.blur_taps is not None:
            return self.blur_taps
        return 2 * ((int(width) // 10) // 2) + 1


@dataclasses.dataclass(frozen=True)
class ViewConfig:
    """One augmented view: `crop` (geometric) then `pixel`."""

    crop: CropConfig
    pixel: PixelConfig = PixelConfig()

    def __post_init__(self):
        if isinstance(self.crop, dict):
            object.__setattr__(self, "crop", CropConfig(**self.crop))
        if isinstance(self.pixel, dict):
            object.__setattr__(self, "pixel", PixelConfig(**self.pixel))
        if not isinstance(self.crop, CropConfig):
            raise TypeError(f"ViewConfig.crop must be a CropConfig or dict, got {type(self.crop)}")
        if not isinstance(self.pixel, PixelConfig):
            raise TypeError(
                f"ViewConfig.pixel must be a PixelConfig or dict, got {type(self.pixel)}"
            )

    @property
    def size(self):
        return self.crop.size

    def to_dict(self):
        """Plain nested dict (JSON / ml_collections friendly); `ViewConfig.from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        crop = dict(d.pop("crop"))
        pixel = dict(d.pop("pixel", {}))
        if d:
            raise ValueError(f"unknown ViewConfig keys {sorted(d)}")
        for key in ("scale", "ratio"):
            if key in crop:
                crop[key] = tuple(crop[key])
        if "blur_sigma" in pixel:
            pixel["blur_sigma"] = tuple(pixel["blur_sigma"])
        return cls(CropConfig(**crop), PixelConfig(**pixel))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation transforms (deterministic test transform, random probe-training transform).

    Test: resize the shorter side to `round(size / crop_fraction)` (bicubic), centre crop
    `size` x `size` (crop_fraction 0.875 is the ImageNet 256 -> 224 protocol; 1.0 for CIFAR).
    Probe training, `probe_mode`:
      "pad_crop": zero-pad `padding` pixels per side, random `size` crop, flip (CIFAR);
        images must be exactly `size` (an image smaller than `size` is an error);
      "resized_crop": random resized crop (area U[0.08, 1]) to `size` + flip (ImageNet).
    """

    size: int
    crop_fraction: float = 0.875
    probe_mode: str = "resized_crop"
    padding: int = 4

    def __post_init__(self):
        _check_size("EvalConfig.size", self.size)
        if not isinstance(self.crop_fraction, (int, float)) or not 0 < self.crop_fraction <= 1:
            raise ValueError(
                f"EvalConfig.crop_fraction must be in (0, 1], got {self.crop_fraction!r}"
            )
        if self.probe_mode not in ("pad_crop", "resized_crop"):
            raise ValueError(
                "EvalConfig.probe_mode must be 'pad_crop' or 'resized_crop', "
                f"got {self.probe_mode!r}"
            )
        if isinstance(self.padding, bool) or not isinstance(self.padding, int) or self.padding < 0:
            raise ValueError(f"EvalConfig.padding must be an int >= 0, got {self.padding!r}")

    @property
    def resize_to(self):
        return int(round(self.size / self.crop_fraction))


def coarsen(view):
    """ISSL's "coarse" augmentations: jitter strengths doubled (hue capped at 0.5), blur p 0.5
    added where the view had none."""
    p = view.pixel
    pixel = dataclasses.replace(
        p,
        brightness=2 * p.brightness,
        contrast=2 * p.contrast,
        saturation=2 * p.saturation,
        hue=min(0.5, 2 * p.hue),
        blur_prob=p.blur_prob if p.blur_prob > 0 else 0.5,
    )
    return dataclasses.replace(view, pixel=pixel)


def byol_views(size=224):
    """The BYOL / SSL-HSIC ImageNet pair (recipes.md), at `size` px."""
    crop = CropConfig(size)
    return (
        ViewConfig(crop, PixelConfig(blur_prob=1.0, solarize_prob=0.0, jitter_style="byol")),
        ViewConfig(crop, PixelConfig(blur_prob=0.1, solarize_prob=0.2, jitter_style="byol")),
    )


def cifar_views(size=32):
    """The CIFAR-10 pair: BYOL's colour settings, no blur, solarize 0.0 / 0.2."""
    crop = CropConfig(size)
    return (
        ViewConfig(crop, PixelConfig(solarize_prob=0.0)),
        ViewConfig(crop, PixelConfig(solarize_prob=0.2)),
    )


def cifar_views_symmetric(size=32):
    """The CIFAR-10 pair without solarize: one pipeline for both crops (solo-learn's CIFAR
    SimCLR, and the independent PyTorch run, docs/simclr_parity.md)."""
    view = ViewConfig(CropConfig(size), PixelConfig(solarize_prob=0.0))
    return (view, view)


def issl_tinyimagenet_views(size=64, coarse=False):
    """ISSL TinyImageNet 2-crop: scale (0.2, 1), jitter 0.4/0.4/0.4/0.1 p 0.8, grayscale 0.1."""
    view = ViewConfig(
        CropConfig(size, scale=(0.2, 1.0)),
        PixelConfig(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, grayscale_prob=0.1),
    )
    if coarse:
        view = coarsen(view)
    return (view, view)


def issl_multicrop(
    num_global=2,
    global_size=224,
    num_local=6,
    local_size=96,
    global_scale=(0.14, 1.0),
    local_scale=(0.05, 0.14),
    coarse=False,
):
    """ISSL multi-crop: `num_global` crops of `global_size` then `num_local` of `local_size`.

    Colour strength 1.0 (jitter 0.8/0.8/0.8/0.2 p 0.8), grayscale 0.2, blur p 0.5 on every crop.
    """
    for name, n in (("num_global", num_global), ("num_local", num_local)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be an int >= 0, got {n!r}")
    if num_global + num_local < 2:
        raise ValueError("issl_multicrop needs at least 2 crops in all (num_global + num_local)")
    pixel = PixelConfig(
        brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, grayscale_prob=0.2, blur_prob=0.5
    )
    views = [ViewConfig(CropConfig(global_size, scale=tuple(global_scale)), pixel)] * num_global
    views += [ViewConfig(CropConfig(local_size, scale=tuple(local_scale)), pixel)] * num_local
    if coarse:
        views = [coarsen(v) for v in views]
    return tuple(views)


PRESETS = {
    "byol": byol_views(224),
    "cifar10": cifar_views(32),
    "cifar10_symmetric": cifar_views_symmetric(32),
    "issl_tinyimagenet": issl_tinyimagenet_views(64),
    "issl_tinyimagenet_coarse": issl_tinyimagenet_views(64, coarse=True),
    # The same augmentations at CIFAR's 32 px (crop scale (0.2, 1), no solarize): the ISSL
    # recipe's milder views, for CISSL / DISSL on CIFAR-10.
    "issl_cifar10": issl_tinyimagenet_views(32),
    "issl_multicrop": issl_multicrop(),
    "issl_multicrop_coarse": issl_multicrop(coarse=True),
    # ISSL ImageNet: 2 x 224 (standard crop scale), and 2 x 160 + 4 x 96 multi-crop.
    "issl_imagenet": issl_multicrop(num_global=2, global_size=224, num_local=0,
                                    global_scale=(0.08, 1.0)),
    "issl_imagenet_multicrop": issl_multicrop(num_global=2, global_size=160, num_local=4,
                                              local_size=96),
}

EVAL_PRESETS = {
    "imagenet": EvalConfig(224, crop_fraction=0.875, probe_mode="resized_crop"),
    "cifar10": EvalConfig(32, crop_fraction=1.0, probe_mode="pad_crop", padding=4),
    "tinyimagenet": EvalConfig(64, crop_fraction=1.0, probe_mode="pad_crop", padding=4),
}


def resolve_views(views):
    """A preset name, one `ViewConfig`/dict, or a sequence of them -> tuple of `ViewConfig`."""
    if isinstance(views, str):
        if views not in PRESETS:
            raise ValueError(f"views: unknown preset {views!r}; presets are {sorted(PRESETS)}")
        return PRESETS[views]
    if isinstance(views, (ViewConfig, dict)):
        views = [views]
    if not isinstance(views, (list, tuple)) or not views:
        raise ValueError(
            "views must be a preset name, a ViewConfig, or a non-empty sequence of ViewConfig "
            f"(or dicts), got {views!r}"
        )
    out = []
    for i, v in enumerate(views):
        if isinstance(v, dict):
            v = ViewConfig.from_dict(v)
        if not isinstance(v, ViewConfig):
            raise TypeError(f"views[{i}] must be a ViewConfig or dict, got {type(v).__name__}")
        out.append(v)
    return tuple(out)


def resolve_pixel(config):
    """A `PixelConfig` from a `PixelConfig`, a `ViewConfig` (its pixel part), or a dict of either
    (`PixelConfig` fields, or `ViewConfig.to_dict()`), e.g. configs restored from JSON."""
    if isinstance(config, PixelConfig):
        return config
    if isinstance(config, ViewConfig):
        return config.pixel
    if isinstance(config, dict):
        if "crop" in config or "pixel" in config:
            return ViewConfig.from_dict(config).pixel
        d = dict(config)
        if "blur_sigma" in d:
            d["blur_sigma"] = tuple(d["blur_sigma"])
        return PixelConfig(**d)
    raise TypeError(
        f"config must be a PixelConfig, ViewConfig or dict, got {type(config).__name__}"
    )


def resolve_eval(config):
    """An `EvalConfig`, a preset name in `EVAL_PRESETS`, or an int size (ImageNet protocol)."""
    if isinstance(config, EvalConfig):
        return config
    if isinstance(config, str):
        if config not in EVAL_PRESETS:
            raise ValueError(
                f"eval config: unknown preset {config!r}; presets are {sorted(EVAL_PRESETS)}"
            )
        return EVAL_PRESETS[config]
    if isinstance(config, int) and not isinstance(config, bool):
        return EvalConfig(config)
    raise TypeError(f"eval config must be an EvalConfig, preset name or int size, got {config!r}")

