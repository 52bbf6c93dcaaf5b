"""Probe-training and test transforms on image batches, built from `sslhsic_tf.data` eval configs.

The protocols take `train_transform` / `test_transform` as callables on NumPy batches
`[B, H, W, 3]` (float32 in [0, 1]); a training transform may take a `seed` keyword (a stateless
`[2]` seed per step). "default" builds them from an `EvalConfig` (`sslhsic_tf.data.augment`),
a preset name ("cifar10", "tinyimagenet", "imagenet"), an int size, or "auto":

- "auto": the data's own resolution S (the train images' side): the preset of that size if
  there is one (32: "cifar10", 64: "tinyimagenet"), else random resized crop at S;
  crop_fraction 1, so test images already of side S pass unchanged.
- probe training: "pad_crop" (zero-pad `padding`, random S crop, flip; CIFAR) or
  "resized_crop" (area U[0.08, 1], flip; ImageNet), the same formulas as
  `sslhsic_tf.data.pipeline.probe_train_dataset`, here on batches in `keras.ops`;
- test: centre square crop of side `crop_fraction * min(H, W)` resized (bicubic) to S, as
  `eval_dataset`; the identity for images that are already S x S with crop_fraction 1.

To train on the data pipeline's own augmented stream instead (the exact reference setting),
pass `train_data=probe_train_dataset(...)`, `test_data=eval_dataset(...)` and `None` here.
"""

import math

from keras import ops

from sslhsic_tf.data.augment import EVAL_PRESETS, CropConfig, EvalConfig, resolve_eval
from sslhsic_tf.data.crops import random_resized_crop, resized_crop
from sslhsic_tf.evaluation.inputs import image_side
from sslhsic_tf.utils import random as srandom

_AUTO_PRESETS = {32: "cifar10", 64: "tinyimagenet"}


class PadCropFlip:
    """Zero-pad `padding` pixels per side, random `size` x `size` crop, horizontal flip (p 0.5)."""

    def __init__(self, size, padding):
        self.size, self.padding = int(size), int(padding)
        self.name = f"pad_crop_flip(size={self.size}, padding={self.padding})"

    def __call__(self, images, seed):
        images = ops.convert_to_tensor(images, "float32")
        height, width = images.shape[1], images.shape[2]
        if min(height, width) < self.size:
            raise ValueError(f"`images` of {height}x{width} are smaller than the probe crop size {self.size}")
        pad = self.padding
        padded = ops.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        u = srandom.uniform((ops.shape(images)[0], 3), seed=seed)
        top = ops.floor(u[:, 0] * float(height + 2 * pad - self.size + 1))
        left = ops.floor(u[:, 1] * float(width + 2 * pad - self.size + 1))
        side = ops.full_like(top, float(self.size))
        # A crop of exactly `size` pixels "resized" to `size` is an exact copy (the cubic kernel
        # is 1 at 0 and 0 at +-1, +-2), so this is a plain crop, flipped where u < 0.5.
        return resized_crop(padded, top, left, side, side, self.size, flip=u[:, 2] < 0.5)


class RandomResizedCropFlip:
    """Random resized crop (area U[0.08, 1], aspect [3/4, 4/3], bicubic) to `size` + flip."""

    def __init__(self, size):
        self.config = CropConfig(int(size))
        self.name = f"random_resized_crop_flip(size={int(size)})"

    def __call__(self, images, seed):
        return random_resized_crop(ops.convert_to_tensor(images, "float32"), seed, self.config)


class CentreCrop:
    """Centre square crop of side `crop_fraction * min(H, W)`, resized (bicubic) to `size`."""

    def __init__(self, size, crop_fraction):
        self.size, self.crop_fraction = int(size), float(crop_fraction)
        self.name = f"centre_crop(size={self.size}, crop_fraction={self.crop_fraction:g})"

    def __call__(self, images):
        images = ops.convert_to_tensor(images, "float32")
        height, width = images.shape[1], images.shape[2]
        if height == width == self.size and self.crop_fraction == 1.0:
            return images
        side = max(1.0, float(round(self.crop_fraction * min(height, width))))
        top, left = math.floor((height - side) / 2.0), math.floor((width - side) / 2.0)
        fill = lambda value: ops.full((ops.shape(images)[0],), float(value))  # noqa: E731
        out = resized_crop(images, fill(top), fill(left), fill(side), fill(side), self.size)
        return ops.clip(out, 0.0, 1.0)


def eval_config_for(eval_config, image_size=None):
    """An `EvalConfig` from a config, preset name, int size, or "auto" (needs `image_size`)."""
    if isinstance(eval_config, str) and eval_config == "auto":
        if image_size is None:
            raise ValueError("`eval_config`='auto' needs the image size of the data")
        image_size = int(image_size)
        if image_size in _AUTO_PRESETS:
            return EVAL_PRESETS[_AUTO_PRESETS[image_size]]
        return EvalConfig(image_size, crop_fraction=1.0, probe_mode="resized_crop")
    return resolve_eval(eval_config)


def eval_transforms(eval_config, image_size=None):
    """`(train_transform, test_transform)` of an eval config; the test one is `None` (identity)
    when `image_size` already equals the config's size and crop_fraction is 1."""
    config = eval_config_for(eval_config, image_size)
    if config.probe_mode == "pad_crop":
        train = PadCropFlip(config.size, config.padding)
    else:
        train = RandomResizedCropFlip(config.size)
    test = CentreCrop(config.size, config.crop_fraction)
    if image_size is not None and int(image_size) == config.size and config.crop_fraction == 1.0:
        test = None
    return train, test


def _check(transform, name):
    if transform is None or callable(transform):
        return transform
    raise TypeError(f"`{name}` must be a callable on image batches, None (identity) or 'default'; got {transform!r}")


def resolve_transforms(train_transform, test_transform, eval_config="auto", image_size=None):
    """Replaces each "default" by the transform `eval_transforms(eval_config, image_size)` gives."""
    if _is_default(train_transform) or _is_default(test_transform):
        defaults = eval_transforms(eval_config, image_size)
        train_transform = defaults[0] if _is_default(train_transform) else train_transform
        test_transform = defaults[1] if _is_default(test_transform) else test_transform
    return _check(train_transform, "train_transform"), _check(test_transform, "test_transform")


def _is_default(transform):
    return isinstance(transform, str) and transform == "default"


def resolve_for_data(train_transform, test_transform, eval_config, data, batch_size=256, name="train_data"):
    """`resolve_transforms` with the image size read from the first batch of `data` when needed."""
    side = None
    if _is_default(train_transform) or _is_default(test_transform):
        side = image_side(data, name, batch_size)
    return resolve_transforms(train_transform, test_transform, eval_config, side)
