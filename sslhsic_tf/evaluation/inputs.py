"""Evaluation inputs: `(images, labels)` from NumPy arrays or a finite `tf.data.Dataset`.

Every protocol accepts `data` as either

- a pair `(images, labels)` of arrays: images float32 `[N, H, W, 3]` in [0, 1], labels int `[N]`;
- a `tf.data.Dataset` whose elements are `(images, labels)` (or dicts with `"image"`/`"images"`
  and `"label"`/`"labels"`), either batched (`[B, H, W, 3]`, `[B]`) or per example (batched
  here with `batch_size`). It must be finite; its order is taken as given (shuffle it in the
  pipeline, reshuffling each iteration, if the protocol trains on it).

Batches come out as NumPy `(images float32 [B, H, W, C], labels int64 [B])`.
"""

import math

import numpy as np

from sslhsic_tf.evaluation._checks import check_labels, check_positive_int
from sslhsic_tf.utils import backend

_IMAGE_KEYS = ("image", "images")
_LABEL_KEYS = ("label", "labels")


def _is_dataset(data):
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return False
    return isinstance(data, tf.data.Dataset)


def _split_element(element, name):
    if isinstance(element, dict):
        image_key = next((k for k in _IMAGE_KEYS if k in element), None)
        label_key = next((k for k in _LABEL_KEYS if k in element), None)
        if image_key is None or label_key is None:
            raise ValueError(
                f"`{name}` yields dicts with keys {sorted(element)}; expected an image key "
                f"{_IMAGE_KEYS} and a label key {_LABEL_KEYS}"
            )
        return element[image_key], element[label_key]
    if isinstance(element, (tuple, list)) and len(element) == 2:
        return element[0], element[1]
    raise ValueError(
        f"`{name}` must yield (images, labels) pairs or dicts with 'image' and 'label'; "
        f"got {type(element).__name__}"
    )


def check_images(images, name):
    """Checks a batch is float `[B, H, W, C]` with finite values in [0, 1]; returns float32 NumPy."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(
            f"`{name}` images must be float32 in [0, 1]; got dtype {images.dtype} "
            "(convert uint8 images with x.astype('float32') / 255)"
        )
    if images.ndim != 4:
        raise ValueError(f"`{name}` images must have shape [B, H, W, C]; got {images.shape}")
    images = images.astype(np.float32, copy=False)
    if images.size:
        if not np.all(np.isfinite(images)):
            raise ValueError(f"`{name}` images contain NaN or infinite values")
        low, high = float(images.min()), float(images.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"`{name}` images must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}]"
            )
    return images


def check_data(data, name):
    """Validates the container (not every batch); returns a normalised form.

    Returns `("arrays", images, labels)` or `("dataset", dataset, per_example)`.
    """
    if _is_dataset(data):
        import tensorflow as tf

        if data.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(f"`{name}` is an infinite dataset (did it `.repeat()`?); pass a finite one")
        if data.cardinality() == 0:
            raise ValueError(f"`{name}` is an empty dataset")
        images_spec, labels_spec = _split_element(data.element_spec, name)
        rank = images_spec.shape.rank
        if rank not in (3, 4):
            raise ValueError(
                f"`{name}` images must be [H, W, C] per example or [B, H, W, C] per batch; "
                f"got element shape {images_spec.shape}"
            )
        return "dataset", data, rank == 3
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"`{name}` images must have shape [N, H, W, C]; got {images.shape}")
        if images.shape[0] == 0:
            raise ValueError(f"`{name}` is empty (0 images)")
        labels = check_labels(labels, f"{name} labels", images.shape[0], f"{name} images")
        return "arrays", images, labels
    raise TypeError(
        f"`{name}` must be a tuple (images, labels) of arrays or a tf.data.Dataset; "
        f"got {type(data).__name__}"
    )


def iterate_batches(data, name, batch_size=256, shuffle_seed=None):
    """Yields `(images float32 [B, H, W, C], labels int64 [B])` NumPy batches of `data`.

    Args:
      data: see the module docstring.
      name: argument name used in error messages.
      batch_size: batch size for arrays and for per-example datasets (a batched dataset keeps
        its own batches).
      shuffle_seed: for arrays, an int to permute the examples (a new order per seed); `None`
        keeps the order. Datasets are never reordered here.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    kind, first, second = check_data(data, name)
    if kind == "arrays":
        images, labels = first, second
        order = np.arange(images.shape[0])
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(images.shape[0])
        for start in range(0, images.shape[0], batch_size):
            index = order[start:start + batch_size]
            yield check_images(images[index], name), labels[index]
        return
    dataset, per_example = first, second
    if per_example:
        dataset = dataset.batch(batch_size)
    count = 0
    for element in dataset.as_numpy_iterator():
        images, labels = _split_element(element, name)
        images = check_images(images, name)
        labels = check_labels(labels, f"{name} labels", images.shape[0], f"{name} images")
        count += images.shape[0]
        yield images, labels
    if count == 0:
        raise ValueError(f"`{name}` yielded no examples")


def num_batches(data, name, batch_size=256):
    """Number of batches `iterate_batches` yields (a pass over the labels if the dataset hides it)."""
    batch_size = check_positive_int(batch_size, "batch_size")
    kind, first, second = check_data(data, name)
    if kind == "arrays":
        return math.ceil(first.shape[0] / batch_size)
    dataset, per_example = first, second
    if per_example:
        dataset = dataset.batch(batch_size)
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(0, lambda count, _: count + 1))


def batch_size_of(data, name, batch_size=256):
    """The batch size a protocol trains with: `batch_size` for arrays or per-example datasets,
    the (static or first-batch) size of an already batched dataset."""
    kind, first, second = check_data(data, name)
    if kind == "arrays" or second:
        return check_positive_int(batch_size, "batch_size")
    images_spec, _ = _split_element(first.element_spec, name)
    static = images_spec.shape[0]
    if static is not None:
        return int(static)
    for element in first.take(1).as_numpy_iterator():
        return int(np.asarray(_split_element(element, name)[0]).shape[0])
    raise ValueError(f"`{name}` yielded no examples")


def image_side(data, name, batch_size=256):
    """`min(H, W)` of the first batch of `data` (the resolution "auto" transforms work at)."""
    images, _ = next(iterate_batches(data, name, batch_size))
    return int(min(images.shape[1], images.shape[2]))


def collect_labels(data, name, batch_size=256):
    """All labels of `data` in iteration order, int64 `[N]` (datasets: one pass, images skipped)."""
    kind, first, second = check_data(data, name)
    if kind == "arrays":
        return second
    dataset = first.map(backend.without_autograph(
        lambda *element: _split_element(element if len(element) > 1 else element[0], name)[1]))
    labels = [np.atleast_1d(np.asarray(l)) for l in dataset.as_numpy_iterator()]
    if not labels:
        raise ValueError(f"`{name}` yielded no examples")
    return check_labels(np.concatenate(labels), f"{name} labels")


def take_subset(data, name, indices, batch_size=256):
    """The examples of `data` at `indices` (positions in iteration order), in the same form.

    Arrays are indexed directly; a dataset is filtered by position (its order must be
    deterministic for the positions to mean anything) and batched with `batch_size`.
    """
    kind, first, second = check_data(data, name)
    indices = np.asarray(indices, dtype=np.int64)
    if kind == "arrays":
        if indices.size and (indices.min() < 0 or indices.max() >= first.shape[0]):
            raise ValueError(f"`indices` must lie in [0, {first.shape[0]}) for `{name}`")
        return first[indices], second[indices]
    import tensorflow as tf

    dataset = first if second else first.unbatch()
    dataset = dataset.map(backend.without_autograph(
        lambda *element: _split_element(element if len(element) > 1 else element[0], name)))
    total = int(collect_labels(data, name).shape[0])
    if indices.size and (indices.min() < 0 or indices.max() >= total):
        raise ValueError(f"`indices` must lie in [0, {total}) for `{name}`")
    keep = np.zeros(total, dtype=bool)
    keep[indices] = True
    keep = tf.constant(keep)
    dataset = dataset.enumerate().filter(backend.without_autograph(lambda i, element: keep[i]))
    dataset = dataset.map(backend.without_autograph(lambda i, element: element))
    return dataset.batch(check_positive_int(batch_size, "batch_size"))
