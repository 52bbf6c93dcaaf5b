"""Input: sources -> augmentation -> `{"views": (v1, v2, ...), "label": y}` batches.

Modules: `arrays` (CIFAR-10 archives as NumPy arrays, no TensorFlow), `augment` (view/eval
configs and presets), `pixel` (keras.ops pixel augmentations),
`crops` (random resized crops as interpolation matrices), `device` (augmentation inside a
training step), `decode`, `sources` (ImageSource and its constructors), `pipeline`
(pretraining, evaluation and probe-training datasets).

Imported lazily (PEP 562): `augment`, `crops`, `pixel` and `device` need only keras.ops, so the
JAX backend trains from arrays without TensorFlow; `decode`, `sources` and `pipeline` (tf.data)
import TensorFlow when first used.
"""

import importlib

_SUBMODULES = ("arrays", "augment", "crops", "decode", "device", "pixel", "pipeline", "sources",
               "specs")
_NAMES = {
    "arrays": ("CIFAR10_CLASSES", "cifar10_archive_arrays"),
    "augment": ("EVAL_PRESETS", "PRESETS", "CropConfig", "EvalConfig", "PixelConfig", "ViewConfig",
                "byol_views", "cifar_views", "coarsen", "issl_multicrop", "issl_tinyimagenet_views",
                "resolve_eval", "resolve_pixel", "resolve_views"),
    "crops": ("random_resized_crop",),
    "device": ("DeviceAugmentation", "augment_views", "pixel_augment_views"),
    "pipeline": ("distribute_pretrain_dataset", "eval_dataset", "pretrain_dataset",
                 "pretrain_dataset_fn", "probe_train_dataset", "steps_per_epoch"),
    "pixel": ("pixel_augment",),
    "specs": ("describe_spec",),
    "sources": ("ImageSource", "TfdsUnavailableError", "cifar10_archive", "cifar10_lossless",
                "demo", "fashion_mnist", "from_arrays", "from_dataset",
                "from_spec", "image_folder", "tfds_source"),
}
_OWNER = {name: module for module, names in _NAMES.items() for name in names}


_NEEDS_TENSORFLOW = ("decode", "pipeline", "sources")


def _module(name):
    try:
        return importlib.import_module(f"sslhsic_tf.data.{name}")
    except ImportError as e:
        if name in _NEEDS_TENSORFLOW and "tensorflow" in str(e):
            raise ImportError(
                f"sslhsic_tf.data.{name} needs TensorFlow (tf.data), which is not installed; "
                "without it, augment in-memory arrays with sslhsic_tf.data.device.augment_views "
                "inside the step (the JAX path), or pip install tensorflow"
            ) from e
        raise


def __getattr__(name):
    if name in _SUBMODULES:
        return _module(name)
    if name in _OWNER:
        return getattr(_module(_OWNER[name]), name)
    raise AttributeError(f"module 'sslhsic_tf.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + list(_OWNER))
