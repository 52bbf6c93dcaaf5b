"""Image decoding (TensorFlow): encoded bytes -> uint8 RGB, and bulk decoding that finds bad files.

Every decoder returns `[H, W, 3]` uint8: grayscale is replicated to RGB, an alpha channel is
dropped (as PIL's `convert("RGB")` does), an animated GIF keeps its first frame.
"""

import logging

import numpy as np
import tensorflow as tf

from sslhsic_tf.utils import backend

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
ON_ERROR = ("raise", "skip")


def decode_rgb(encoded):
    """JPEG/PNG/BMP/GIF bytes (scalar string tensor) -> uint8 `[H, W, 3]`."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def check_on_error(on_error):
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")


def report_bad(bad, on_error, what):
    """Raises for `bad` items [(name, reason)] under on_error="raise"; logs and returns them under
    "skip" (the caller counts them in `ImageSource.skipped`)."""
    if not bad:
        return ()
    listing = "; ".join(f"{n}: {r}" for n, r in bad[:10])
    more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
    if on_error == "raise":
        raise ValueError(
            f"{len(bad)} {what} could not be read or decoded: {listing}{more}. "
            "Fix or remove them, or pass on_error='skip' to skip them (counted and logged)."
        )
    logger.warning("skipping %d unreadable %s: %s%s", len(bad), what, listing, more)
    return tuple(bad)


def decode_all(encoded, names, on_error="raise", keep_pixels=True, from_files=False):
    """Decodes every item of `encoded` in parallel, finding the ones that fail.

    Args:
      encoded: sequence of bytes (JPEG, PNG, BMP, GIF), or of file paths with `from_files`.
      names: a name per item, used in error messages (file paths).
      on_error: "raise" (a ValueError listing the bad items) or "skip" (dropped, logged).
      keep_pixels: False checks decodability only (returns shapes, no pixels).
    Returns:
      `(good, images, shapes, bad)`: indices of the decodable items (int64 array); their pixels:
      one uint8 array `[n, H, W, 3]` when all have the same shape, else a list of `[H, W, 3]`
      arrays (None when not keep_pixels); their shapes `[n, 3]`; the bad items as
      (name, reason) pairs.
    """
    check_on_error(on_error)
    n = len(encoded)
    if n == 0:
        return np.zeros([0], np.int64), [] if keep_pixels else None, np.zeros([0, 3], np.int64), []
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(encoded), tf.string), tf.range(n, dtype=tf.int64))
    )

    def decode(data, index):
        image = decode_rgb(tf.io.read_file(data) if from_files else data)
        flat = tf.reshape(image, [-1]) if keep_pixels else tf.zeros([0], tf.uint8)
        return flat, tf.shape(image, out_type=tf.int64), index

    ds = ds.map(backend.without_autograph(decode), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors().ragged_batch(1024).prefetch(2)
    rows, shapes, good = [], [], []
    for flat, shape, index in ds.as_numpy_iterator():
        rows.extend(flat)  # a ragged batch arrives as an object array of 1-D rows
        shapes.append(shape)
        good.append(index)
    good = np.concatenate(good) if good else np.zeros([0], np.int64)
    shapes = np.concatenate(shapes) if shapes else np.zeros([0, 3], np.int64)
    images = None
    if keep_pixels:
        if len(good) == 0:
            images = []
        elif (shapes == shapes[0]).all():
            images = np.stack(rows).reshape([len(good), *shapes[0]])
        else:
            images = [np.asarray(r).reshape(s) for r, s in zip(rows, shapes)]
    missing = np.setdiff1d(np.arange(n), good)
    bad = []
    for i in missing:
        if from_files:
            reason = "unreadable, or not a decodable JPEG/PNG/BMP/GIF"
        elif len(encoded[i]) == 0:
            reason = "empty file"
        else:
            reason = "not a decodable JPEG/PNG/BMP/GIF (corrupt or truncated)"
        bad.append((str(names[i]), reason))
    report_bad(bad, on_error, "images")
    return good, images, shapes, bad
