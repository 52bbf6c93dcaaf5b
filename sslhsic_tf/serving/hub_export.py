"""An encoder as a SavedModel in TF-Hub's reusable form (`hub.KerasLayer(path, trainable=True)`).

The saved object has

- `__call__(images, training=False)`: a `tf.function` traced for `training` in {False, True};
  `training=True` runs BatchNorm on batch statistics and updates its moving averages (what
  fine-tuning with `hub.KerasLayer(..., trainable=True)` needs);
- `variables`, `trainable_variables`: the encoder's variables (the underlying `tf.Variable`s);
- `regularization_losses`: a list of zero-argument `tf.function`s, each a scalar (one summing the
  encoder's weight regularizers, or an empty list when it has none);
- a `serving_default` signature: input `images`, output `{"features": [B, F]}` (inference mode);
- for ResNet encoders, a `feature_maps` signature: input `images`, output the stage outputs by
  stride `{"P0"|"P1", ..., "P3"|"P5": [B, H / 2^l, W / 2^l, C]}` (`models.pyramid_outputs`,
  inference mode, float32), for dense tasks;

and the input contract of `sslhsic_tf.serving.contract` (float32 RGB `[B, H, W, 3]` in [0, 1] at
exactly the training size; float32 `[B, F]` out), enforced at call time and written to
`sslhsic_tf_export.json` in the folder.
"""

import functools

import keras
import tensorflow as tf

from sslhsic_tf.serving._atomic import atomic_directory
from sslhsic_tf.serving.contract import (
    INPUT_NAME,
    OUTPUT_NAME,
    build_metadata,
    checked_features,
    checked_images,
    normalize_image_size,
    rejected_dtype_features,
    write_metadata,
)

# Wrong input dtypes that get a traced function raising a clear message (others get TensorFlow's
# "Could not find matching concrete function", which also names the expected float32 spec).
REJECTED_DTYPES = ("uint8", "uint16", "int32", "int64", "float16", "bfloat16", "float64")


def _require_tensorflow_backend(what):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"{what} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); the backend is "
            f"{keras.backend.backend()!r}. Save the model with save_keras() and export it from a "
            "TensorFlow-backend process."
        )


def _check_encoder(encoder):
    if not isinstance(encoder, keras.layers.Layer):
        raise TypeError(
            f"encoder must be a keras.Model (or Layer) mapping images to features; "
            f"got {type(encoder).__name__}"
        )


def probe_feature_dim(encoder, image_size):
    """Runs `encoder` once on zeros `[1, H, W, 3]` (inference mode); returns F of `[B, F]`."""
    h, w = image_size
    out = encoder(tf.zeros([1, h, w, 3], tf.float32), training=False)
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            "encoder must map images [B, H, W, 3] to features [B, F]; on a [1, "
            f"{h}, {w}, 3] input it returned {type(out).__name__} with shape {shape}"
        )
    return int(shape[-1])


def _tf_variable(variable):
    value = variable if isinstance(variable, tf.Variable) else getattr(variable, "value", None)
    if not isinstance(value, tf.Variable):
        name = getattr(variable, "path", variable)
        raise TypeError(f"variable {name!r} is not backed by a tf.Variable")
    return value


class _Unsaved:
    """Holds a Python object without making it part of the SavedModel's object graph."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class HubEncoderModule(tf.Module):
    """TF-Hub reusable wrapper of an encoder; see the module docstring for the contract."""

    # tf.Module defines these as read-only properties that walk the module tree; TF-Hub wants
    # plain saved attributes, so the properties are shadowed and set per instance.
    variables = None
    trainable_variables = None

    def __init__(self, encoder, image_size, feature_dim, check_range=True,
                 name="sslhsic_tf_encoder"):
        super().__init__(name=name)
        self._encoder = _Unsaved(encoder)
        self._pyramid = _Unsaved(_feature_pyramid_or_none(encoder))
        if self._pyramid.value is not None:
            self.feature_maps = tf.function(
                self._feature_maps,
                input_signature=[tf.TensorSpec(None, tf.float32, name=INPUT_NAME)])
        self._image_size = tuple(image_size)
        self._feature_dim = int(feature_dim)
        self._check_range = bool(check_range)
        self.variables = [_tf_variable(v) for v in encoder.variables]
        self.trainable_variables = [_tf_variable(v) for v in encoder.trainable_variables]
        regularized = [
            (v, v.regularizer)
            for v in encoder.trainable_weights
            if getattr(v, "regularizer", None) is not None
        ]
        if regularized:

            @tf.function(input_signature=[])
            def weight_regularization():
                return tf.add_n([tf.cast(reg(v), tf.float32) for v, reg in regularized])

            self.regularization_losses = [weight_regularization]
        else:
            self.regularization_losses = []

    def _features(self, images, training):
        encode = functools.partial(self._encoder.value, training=training)
        return checked_features(
            encode, images, self._image_size, self._check_range, self._feature_dim
        )

    @tf.function
    def __call__(self, images, training=False):
        """float32 `[B, H, W, 3]` in [0, 1] -> float32 `[B, F]`; `training` a Python bool."""
        if not isinstance(training, bool):
            raise TypeError(f"training must be a Python bool; got {training!r}")
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.float32:
            return rejected_dtype_features(
                images.dtype, self._image_size, self._check_range, self._feature_dim
            )
        return self._features(images, training)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name=INPUT_NAME)])
    def serve(self, images):
        """The `serving_default` signature: `{"features": [B, F]}`, inference mode."""
        return {OUTPUT_NAME: self._features(images, False)}

    def _feature_maps(self, images):
        """The `feature_maps` signature: `{"P<l>": [B, H / 2^l, W / 2^l, C]}`, inference mode
        (a `tf.function` attribute of the modules whose encoder is a ResNet)."""
        images = checked_images(images, self._image_size, self._check_range)
        maps = self._pyramid.value(images, training=False)
        return {key: tf.cast(value, tf.float32) for key, value in maps.items()}


def _feature_pyramid_or_none(encoder):
    """`models.feature_pyramid(encoder)` for a ResNet of this library, else None."""
    from sslhsic_tf import models

    try:
        return models.feature_pyramid(encoder)
    except (ValueError, AttributeError):
        return None


def make_hub_module(encoder, *, image_size, check_range=True):
    """Returns the `tf.Module` that `export_hub` saves, with all its functions traced."""
    _require_tensorflow_backend("make_hub_module")
    _check_encoder(encoder)
    image_size = normalize_image_size(image_size)
    if not isinstance(check_range, bool):
        raise TypeError(f"check_range must be a bool; got {check_range!r}")
    feature_dim = probe_feature_dim(encoder, image_size)
    module = HubEncoderModule(encoder, image_size, feature_dim, check_range)
    for training in (False, True):
        for dtype in ("float32",) + REJECTED_DTYPES:
            spec = tf.TensorSpec(None, tf.as_dtype(dtype), name=INPUT_NAME)
            module.__call__.get_concrete_function(spec, training=training)
    module.serve.get_concrete_function()
    if module._pyramid.value is not None:
        module.feature_maps.get_concrete_function()
    return module


def export_hub(encoder, path, *, image_size, check_range=True, overwrite=False, metadata=None):
    """Saves `encoder` as a TF-Hub reusable SavedModel folder at `path`; returns its metadata.

    Args:
      encoder: a built-or-buildable `keras.Model` mapping float32 RGB `[B, H, W, 3]` in [0, 1] to
        `[B, F]` (normalisation inside). TensorFlow backend only.
      path: the folder to create. Written beside itself and renamed into place, so a failure
        leaves nothing behind.
      image_size: int or `(height, width)`: the training size. Inputs of any other size are
        REJECTED at call time (not resized).
      check_range: if True (default), values outside [0, 1] or NaN are an error at call time; if
        False they pass through unchanged (for callers whose augmentations leave the range).
      overwrite: replace an existing export at `path` (never a folder that is not an export).
      metadata: optional dict of JSON values stored under `"extra"` in `sslhsic_tf_export.json`.

    Load it with `tf.saved_model.load(path)` (then `obj(images, training=False)` or
    `obj.signatures["serving_default"](images=...)["features"]`), or with
    `hub.KerasLayer(path, trainable=...)` inside a tf_keras model.
    """
    module = make_hub_module(encoder, image_size=image_size, check_range=check_range)
    doc = build_metadata(
        "tf_hub_reusable_saved_model",
        image_size=module._image_size,
        feature_dim=module._feature_dim,
        check_range=module._check_range,
        endpoints={
            "__call__": f"{INPUT_NAME}, training=False -> [batch, feature_dim]",
            "serving_default": f"{INPUT_NAME} -> {{'{OUTPUT_NAME}': [batch, feature_dim]}}",
            **({"feature_maps": f"{INPUT_NAME} -> {{'P<l>': [batch, height / 2^l, width / 2^l, "
                                "channels]}"} if module._pyramid.value is not None else {}),
        },
        encoder_name=getattr(encoder, "name", None),
        extra=metadata,
    )
    signatures = {"serving_default": module.serve.get_concrete_function()}
    if module._pyramid.value is not None:
        signatures["feature_maps"] = module.feature_maps.get_concrete_function()
    with atomic_directory(path, overwrite=overwrite) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        write_metadata(tmp, doc)
    return doc
