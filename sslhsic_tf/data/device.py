"""Augmentation inside the training step (keras.ops, any backend, jit-compatible).

- `DeviceAugmentation(views)`: the serialisable layer a training model receives as
  `device_augment` (`layer(views, seed)` runs `pixel_augment_views`); it is saved with the model.
- `pixel_augment_views(views, seed, view_configs)`: the pixel stage for views produced by a
  pipeline built with `pixel_stage="device"` (the JAX path: tf.data emits crops + flips).
- `augment_views(images, seed, view_configs)`: the whole two-stage augmentation on device, from
  a batch of same-size images (e.g. a uint8 CIFAR batch held in accelerator memory).

`seed` is a stateless `[2]` seed, e.g. `sslhsic_tf.utils.random.stateless_seed(base, step)`,
so a resumed run draws the same augmentations; view v uses `stateless_seed(seed, v)` (and
`(seed, v, 0)` / `(seed, v, 1)` for crop / pixel in `augment_views`). Parameters are drawn per
image from the batch-level seed.
"""

import dataclasses

import keras

from sslhsic_tf.data.augment import resolve_views
from sslhsic_tf.data.crops import random_resized_crop
from sslhsic_tf.data.pixel import pixel_augment
from sslhsic_tf.utils import random as srandom


def pixel_augment_views(views, seed, view_configs):
    """Pixel stage of each view: tuple of `[B, S_v, S_v, 3]` in [0, 1] -> same, float32.

    `view_configs`: the `views` argument the pipeline was built with (preset name or configs).
    """
    view_configs = resolve_views(view_configs)
    if len(views) != len(view_configs):
        raise ValueError(f"{len(views)} views for {len(view_configs)} view configs")
    return tuple(
        pixel_augment(x, srandom.stateless_seed(seed, v), c.pixel)
        for v, (x, c) in enumerate(zip(views, view_configs))
    )


def augment_views(images, seed, view_configs):
    """Random resized crop + flip + pixel stage per view, from `[B, H, W, 3]` (uint8 or float in
    [0, 1], static H, W) -> tuple of float32 `[B, S_v, S_v, 3]`."""
    view_configs = resolve_views(view_configs)
    out = []
    for v, c in enumerate(view_configs):
        crops = random_resized_crop(images, srandom.stateless_seed(seed, v, 0), c.crop)
        out.append(pixel_augment(crops, srandom.stateless_seed(seed, v, 1), c.pixel))
    return tuple(out)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class DeviceAugmentation(keras.layers.Layer):
    """The pixel stage of a pipeline's views, run inside the training step, as a layer.

    `DeviceAugmentation(views)(batch_views, seed)` = `pixel_augment_views(batch_views, seed,
    views)`: a tuple of `[B, S_v, S_v, 3]` in [0, 1] -> the same, float32 (whatever the dtype
    policy: augmentation is not a model computation). `views`: what the pipeline was built with
    (a preset name such as "cifar10", or `ViewConfig`s / their dicts, one per view). No weights;
    `get_config` holds the views as plain dicts, so a `.keras` file of the training model keeps
    its augmentation.
    """

    def __init__(self, views, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.view_configs = resolve_views(views)
        self.views = [_plain(dataclasses.asdict(c)) for c in self.view_configs]
        self.built = True  # no weights; an unbuilt sublayer would make fit() build the model again

    def call(self, views, seed):
        return pixel_augment_views(tuple(views), seed, self.view_configs)

    def compute_output_spec(self, views, seed):
        return tuple(keras.KerasTensor(v.shape, "float32") for v in views)

    def get_config(self):
        return {**super().get_config(), "views": self.views}


def _plain(d):
    """A dataclass dict with tuples as lists (JSON-ready)."""
    return {k: _plain(v) if isinstance(v, dict) else list(v) if isinstance(v, tuple) else v
            for k, v in d.items()}
