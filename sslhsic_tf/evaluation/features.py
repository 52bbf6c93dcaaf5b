"""Features of a frozen encoder: batched inference-mode extraction to NumPy, L2 normalisation, caching."""

import hashlib
import json
import os
import tempfile

import keras
import numpy as np

from sslhsic_tf.evaluation._checks import check_features, check_labels, check_positive_int
from sslhsic_tf.evaluation.inputs import iterate_batches

CACHE_FORMAT = "sslhsic_tf.features/1"


def l2_normalize(features, epsilon=1e-12):
    """Rows of `features [N, F]` divided by their L2 norm (a zero row stays zero); float32."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.sqrt(np.sum(np.square(features, dtype=np.float64), axis=-1, keepdims=True))
    return (features / np.maximum(norms, epsilon)).astype(np.float32)


def transform_name(transform):
    """A readable name for a transform callable (recorded with results and caches)."""
    if transform is None:
        return "identity"
    name = getattr(transform, "name", None) or getattr(transform, "__name__", None)
    if name is None or name == "<lambda>":
        func = getattr(transform, "func", None)  # functools.partial
        name = getattr(func, "__name__", None) or type(transform).__name__
    return str(name)


def pad_batch(images, size):
    """`images [B, ...]` padded to `size` rows by repeating the last one (B <= size).

    Inference runs per example (BatchNorm on moving statistics), so padding a short last batch
    to the full batch size changes nothing but saves a retrace (an XLA recompile on GPU).
    """
    if size is None or images.shape[0] >= size:
        return images
    return np.concatenate([images, np.repeat(images[-1:], size - images.shape[0], axis=0)])


def encode_batch(encoder, images, pad_to=None):
    """`encoder(images, training=False)` as float32 NumPy `[B, F]` (compiled via `predict_on_batch`);
    `pad_to`: see `pad_batch`."""
    count = images.shape[0]
    if isinstance(encoder, keras.Model):
        outputs = encoder.predict_on_batch(pad_batch(images, pad_to))
    else:  # a layer such as keras.layers.TFSMLayer, or a plain callable
        outputs = encoder(images, training=False)
    if isinstance(outputs, (dict, list, tuple)):
        raise TypeError(
            f"`encoder` must return one feature tensor [B, F]; got a {type(outputs).__name__}"
        )
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs)).astype(np.float32)
    if outputs.ndim != 2 or outputs.shape[0] < count:
        raise ValueError(
            f"`encoder` must map [B, H, W, C] images to features [B, F]; got output shape "
            f"{outputs.shape} for input {tuple(images.shape)}"
        )
    return outputs[:count]


def extract_features(encoder, data, batch_size=256, transform=None, normalize=False, name="data"):
    """Features of `data` under the frozen `encoder` in inference mode, with their labels.

    BatchNorm uses its moving statistics (`training=False`); no variable changes.

    Args:
      encoder: `keras.Model` (or layer/callable) mapping float32 `[B, H, W, 3]` in [0, 1] to `[B, F]`.
      data: `(images, labels)` arrays or a finite `tf.data.Dataset` (see `inputs.py`).
      batch_size: inference batch size for arrays / per-example datasets.
      transform: optional deterministic callable on an image batch (e.g. a centre crop).
      normalize: L2-normalise each feature vector.
      name: the argument name for error messages.

    Returns:
      `(features float32 [N, F], labels int64 [N])` in the order of `data`.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    features, labels, full = [], [], None
    for images, batch_labels in iterate_batches(data, name, batch_size):
        if transform is not None:
            images = np.asarray(keras.ops.convert_to_numpy(transform(images)), dtype=np.float32)
        full = full or images.shape[0]
        features.append(encode_batch(encoder, images, pad_to=full))
        labels.append(batch_labels)
    features = np.concatenate(features, axis=0)
    if not np.all(np.isfinite(features)):
        bad = int(np.sum(~np.isfinite(features).all(axis=1)))
        raise ValueError(f"`encoder` produced NaN or infinite features for {bad} examples of `{name}`")
    if normalize:
        features = l2_normalize(features)
    return features, np.concatenate(labels, axis=0)


def weights_fingerprint(model):
    """SHA-256 over the shapes, dtypes and values of every variable of `model` (a cache key)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        digest.update(f"{variable.path}:{value.dtype}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_features(path, features, labels, metadata=None):
    """Writes features, labels and JSON `metadata` to the `.npz` file `path` atomically."""
    features = check_features(features, "features")
    labels = check_labels(labels, "labels", features.shape[0])
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    meta = {"format": CACHE_FORMAT, **(metadata or {})}
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, features=features, labels=labels, metadata=np.array(json.dumps(meta)))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_features(path):
    """Returns `(features, labels, metadata)` written by `save_features`."""
    with np.load(path, allow_pickle=False) as archive:
        missing = {"features", "labels", "metadata"} - set(archive.files)
        if missing:
            raise ValueError(f"`path` {path} is not a feature cache (missing {sorted(missing)})")
        metadata = json.loads(str(archive["metadata"]))
        if metadata.get("format") != CACHE_FORMAT:
            raise ValueError(f"`path` {path} has format {metadata.get('format')!r}, expected {CACHE_FORMAT!r}")
        return archive["features"], archive["labels"], metadata


def cached_features(path, encoder, data, batch_size=256, transform=None, normalize=False, name="data"):
    """`extract_features`, reusing the `.npz` at `path` when it was made by the same weights.

    The cache records the encoder's `weights_fingerprint`, the transform's name and
    `normalize`; if any differs (or `path` does not exist) the features are recomputed and the
    file rewritten. The data itself is not fingerprinted: use one path per data set and split.

    Returns `(features, labels, hit)` where `hit` says whether the cache was used.
    """
    metadata = {
        "weights_sha256": weights_fingerprint(encoder),
        "transform": transform_name(transform),
        "normalize": bool(normalize),
    }
    if os.path.exists(path):
        features, labels, stored = load_features(path)
        if all(stored.get(key) == value for key, value in metadata.items()):
            return features, labels, True
    features, labels = extract_features(encoder, data, batch_size, transform, normalize, name)
    save_features(path, features, labels, {**metadata, "num_examples": int(features.shape[0])})
    return features, labels, False
