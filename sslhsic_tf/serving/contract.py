"""The input/output contract of an exported encoder, its in-graph checks, and its metadata file.

Contract (every export of this package states it in `sslhsic_tf_export.json` and enforces it):

- input `images`: float32 RGB, NHWC `[batch, height, width, 3]`, values in [0, 1], and
  `(height, width)` EXACTLY the training size given at export. Other sizes are rejected, not
  resized: resize yourself first (e.g. `tf.image.resize`), so that nothing changes silently
  (bicubic resizing overshoots [0, 1]: clip its output).
- output `features`: float32 `[batch, feature_dim]`.

Enforcement happens at call time, inside the exported graph: a wrong rank, size or channel count,
and (unless the export was made with `check_range=False`) any value outside [0, 1] or NaN raise
`tf.errors.InvalidArgumentError` with a message that names `images`, the expected contract and
what was received. The checks run before the encoder, and the static shape reaching the encoder
is that of the contract, so a wrong shape never reaches a convolution (whose error is cryptic).
"""

import json
import operator
import os
import pathlib

import keras
import tensorflow as tf

from sslhsic_tf.version import __version__

from sslhsic_tf.serving.metadata import (  # noqa: E402,F401 - re-exported
    METADATA_FILENAME,
    METADATA_FORMAT,
    METADATA_VERSION,
    read_export_metadata,
)
INPUT_NAME = "images"
OUTPUT_NAME = "features"
SIZE_POLICY = "exact: other sizes are rejected (resize first, e.g. tf.image.resize)"


def normalize_image_size(image_size):
    """`image_size` (int or `(height, width)`) -> `(height, width)` of positive Python ints."""
    expected = f"image_size must be an int or (height, width) of ints; got {image_size!r}"

    def as_int(value):
        if isinstance(value, bool):
            raise TypeError(expected)
        try:
            return operator.index(value)
        except TypeError:
            raise TypeError(expected) from None

    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise TypeError(expected)
        size = (as_int(image_size[0]), as_int(image_size[1]))
    else:
        size = (as_int(image_size),) * 2
    if min(size) < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}")
    return size


def contract_message(image_size, check_range):
    """The one-line statement of the input contract used in error messages."""
    h, w = image_size
    rng = "in [0, 1]" if check_range else "(meant to be in [0, 1])"
    return f"images: expected float32 RGB [batch, {h}, {w}, 3] {rng}"


def rejected_dtype_features(dtype, image_size, check_range, feature_dim):
    """Graph body for a non-float32 `images`: an assertion that always fails, naming the dtype.

    Traced into the exported `__call__` for common wrong dtypes (uint8 images, float64 NumPy
    arrays, ...) so that they fail with this message instead of a dispatch error.
    """
    msg = (
        f"{contract_message(image_size, check_range)}; got dtype {dtype.name}"
        + (" (convert with tf.image.convert_image_dtype(images, tf.float32), which maps "
           "integers to [0, 1])" if dtype.is_integer else "")
    )
    check = tf.debugging.Assert(tf.constant(False), [msg], name="check_dtype")
    with tf.control_dependencies([check]):
        return tf.zeros([0, feature_dim], tf.float32)


def checked_images(images, image_size, check_range):
    """`images` once validated in the graph (rank 4, `image_size`, 3 channels, and values in
    [0, 1] when `check_range`), with the static shape `[None, H, W, 3]`."""
    h, w = image_size
    shape = tf.shape(images)
    rank = tf.size(shape)
    # Padded so that indexing never fails shape inference, whatever the rank.
    dims = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)[:4]
    shape_ok = tf.logical_and(
        tf.equal(rank, 4),
        tf.reduce_all(tf.equal(dims[1:], tf.constant([h, w, 3], tf.int32))),
    )
    checks = [
        tf.debugging.Assert(
            shape_ok,
            [f"{contract_message(image_size, check_range)} (resize first, e.g. "
             f"tf.image.resize(images, ({h}, {w})); the encoder was trained at {h}x{w}); got "
             "shape", shape],
            summarize=16,
            name="check_shape",
        )
    ]
    if check_range:
        with tf.control_dependencies(checks):
            in_range = tf.reduce_all(
                tf.logical_and(images >= 0.0, images <= 1.0)
            )  # NaN compares False: rejected too
            checks.append(
                tf.debugging.Assert(
                    in_range,
                    [
                        f"{contract_message(image_size, check_range)}; got values outside "
                        "[0, 1] (or NaN): min",
                        tf.reduce_min(images),
                        "max",
                        tf.reduce_max(images),
                    ],
                    name="check_range",
                )
            )
    # Everything downstream waits for the checks: the images AND the cond's predicate (else the
    # constant branch could feed the encoder while the assertions are still pending).
    with tf.control_dependencies(checks):
        images = tf.identity(images)
        checked_ok = tf.identity(shape_ok)
    # Forget the caller's static shape before the encoder: a restored function called with a
    # tensor of known shape re-runs shape inference through its body, and a wrong static shape
    # would fail there (with TensorFlow's message, in the first op that notices) before the
    # assertions above could run. A cond's output carries only its traced (unknown) shape. Only
    # the identity sits in the branch: the encoder outside keeps gradients cheap to build.
    images = tf.cond(
        checked_ok, lambda: tf.identity(images), lambda: tf.zeros([0, h, w, 3], tf.float32)
    )
    return tf.ensure_shape(images, [None, h, w, 3])


def checked_features(encode, images, image_size, check_range, feature_dim):
    """Validates float32 `images` in the graph (`checked_images`), then returns
    `encode(images)` as float32 `[B, F]`.

    Args:
      encode: callable `[B, H, W, 3] float32 -> [B, F]` (the encoder, with `training` bound).
      images: float32 tensor of any (possibly unknown) rank.
      image_size: `(height, width)` the encoder was trained at.
      check_range: whether values outside [0, 1] (and NaN) are an error.
      feature_dim: F.
    """
    features = tf.cast(encode(checked_images(images, image_size, check_range)), tf.float32)
    return tf.ensure_shape(features, [None, feature_dim])


def build_metadata(kind, *, image_size, feature_dim, check_range, endpoints, encoder_name, extra):
    """The JSON document written beside an export: its contract, endpoints and versions."""
    h, w = image_size
    doc = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "kind": kind,
        "encoder_name": encoder_name,
        "input": {
            "name": INPUT_NAME,
            "dtype": "float32",
            "shape": [None, h, w, 3],
            "layout": "NHWC",
            "color": "RGB",
            "value_range": [0.0, 1.0],
            "value_range_enforced": bool(check_range),
            "size_policy": SIZE_POLICY,
        },
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, int(feature_dim)]},
        "image_size": [h, w],
        "input_shape": [h, w, 3],
        "feature_dim": int(feature_dim),
        "endpoints": endpoints,
        "versions": {
            "sslhsic_tf": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"metadata must be a dict of JSON values; got {type(extra).__name__}")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise TypeError(f"metadata must hold JSON values only (no NaN): {err}") from None
        doc["extra"] = extra
    return doc


def write_metadata(folder, doc):
    """Writes `doc` as `folder/sslhsic_tf_export.json`."""
    path = pathlib.Path(folder) / METADATA_FILENAME
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


