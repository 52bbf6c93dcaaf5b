"""Image sources: images + integer labels + metadata, in one shape for every kind of input.

An `ImageSource` holds `num_examples` images with labels (int32, -1 = unlabelled), `num_classes`
and `class_names`, stored in one of four ways (`kind`):

- "array": decoded pixels in memory, `[N, H, W, 3]` uint8 (or float32 in [0, 1]); the fast path
  (random access by gather, batched crops);
- "encoded": encoded bytes in memory (images of varying size), decoded in the pipeline;
- "files": file paths, read and decoded in the pipeline (data larger than memory);
- "stream": a function returning a `tf.data.Dataset` of `(image or bytes, label)` in a fixed
  order (TFDS splits too large for memory, unbounded user datasets); no random access.

Constructors: `from_arrays`, `from_dataset`, `image_folder`, `cifar10_archive`,
`cifar10_lossless`, `fashion_mnist`, `tfds_source`, `demo`, and `from_spec` (a string such as
"demo:train" or "tfds:cifar10:test", for command-line flags).

Bad input: a missing path, an empty folder, a class folder without images, label counts that do
not match the images, float pixels outside [0, 1] are errors (ValueError naming what is wrong).
Corrupt, truncated or unreadable image files raise a ValueError listing them by default
(`on_error="raise"`); with `on_error="skip"` they are left out, logged (warning) and listed in
`source.skipped` as `(name, reason)`, so nothing is dropped silently.
"""

import csv
import dataclasses
import gzip
import io
import os
import pathlib
import tarfile
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from sslhsic_tf.data import decode as _decode
from sslhsic_tf.data.arrays import CIFAR10_CLASSES
from sslhsic_tf.utils import backend

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEMO_DIR = pathlib.Path(__file__).resolve().parent / "demo_data"
DEMO_ARCHIVE = DEMO_DIR / "cifar10_demo.tar.gz"
DEFAULT_MAX_MEMORY_BYTES = 4 << 30

_CACHE = {}  # decoded archives, keyed by (path, size, mtime, split, on_error)


class TfdsUnavailableError(ValueError):
    """A TFDS dataset that is neither prepared locally nor downloadable (e.g. offline)."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ImageSource:
    """Images and labels with metadata (see the module docstring). Build with the constructors.

    Attributes:
      name: a short description (e.g. "cifar10_archive:train").
      num_examples: N.
      labels: int32 `[N]` (-1 where unlabelled); None for "stream" sources (labels come with
        the stream).
      num_classes, class_names: None when unknown / unlabelled.
      images: "array" kind: `[N, H, W, 3]` uint8 or float32 in [0, 1].
      encoded: "encoded" kind: object array `[N]` of bytes.
      paths: "files" kind: tuple of N paths.
      stream: "stream" kind: a zero-argument function returning the dataset.
      stream_encoded: whether the stream yields encoded bytes (decoded in the pipeline).
      skipped: `(name, reason)` of the items left out when loading with on_error="skip".
    """

    name: str
    num_examples: int
    labels: Optional[np.ndarray]
    num_classes: Optional[int] = None
    class_names: Optional[Tuple[str, ...]] = None
    images: Optional[np.ndarray] = None
    encoded: Optional[np.ndarray] = None
    paths: Optional[Tuple[str, ...]] = None
    stream: Optional[Callable[[], tf.data.Dataset]] = None
    stream_encoded: bool = False
    skipped: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self):
        stores = [x is not None for x in (self.images, self.encoded, self.paths, self.stream)]
        if sum(stores) != 1:
            raise ValueError("an ImageSource holds exactly one of images/encoded/paths/stream")
        if not isinstance(self.num_examples, (int, np.integer)) or self.num_examples < 1:
            raise ValueError(f"{self.name}: no images (num_examples={self.num_examples!r})")
        if self.kind != "stream":
            if self.labels is None or len(self.labels) != self.num_examples:
                raise ValueError(f"{self.name}: labels must have num_examples entries")
        if self.class_names is not None and self.num_classes is not None:
            if len(self.class_names) != self.num_classes:
                raise ValueError(
                    f"{self.name}: {len(self.class_names)} class_names for "
                    f"num_classes={self.num_classes}"
                )
        object.__setattr__(self, "_tensors", {})

    @property
    def kind(self):
        if self.images is not None:
            return "array"
        if self.encoded is not None:
            return "encoded"
        if self.paths is not None:
            return "files"
        return "stream"

    @property
    def image_shape(self):
        """`(H, W, 3)` when every image has that shape (the "array" kind), else None."""
        return tuple(int(d) for d in self.images.shape[1:]) if self.images is not None else None

    @property
    def random_access(self):
        return self.kind != "stream"

    def __repr__(self):
        shape = f", image_shape={self.image_shape}" if self.image_shape else ""
        skipped = f", skipped={len(self.skipped)}" if self.skipped else ""
        return (
            f"ImageSource({self.name!r}, kind={self.kind!r}, num_examples={self.num_examples}, "
            f"num_classes={self.num_classes}{shape}{skipped})"
        )

    def _tensor(self, key):
        """The stored arrays as (cached) host tensors, captured by tf.data functions."""
        cache = self._tensors
        if key not in cache:
            # init_scope: create them eagerly even when first asked for inside a traced
            # function, so that every later pipeline can capture the same tensors.
            with tf.init_scope(), tf.device("/CPU:0"):
                if key == "images":
                    cache[key] = tf.constant(self.images)
                elif key == "encoded":
                    cache[key] = tf.constant(list(self.encoded), tf.string)
                elif key == "paths":
                    cache[key] = tf.constant(list(self.paths), tf.string)
                else:
                    cache[key] = tf.constant(self.labels, tf.int32)
        return cache[key]

    def lookup(self, index):
        """Inside tf.data: `(image, label)` for int64 `index` (random-access kinds).

        The image is the stored array element ("array": uint8 or float32) or the decoded
        uint8 `[H, W, 3]` ("encoded", "files").
        """
        if self.kind == "stream":
            raise ValueError(f"{self.name}: a stream source has no random access")
        label = tf.gather(self._tensor("labels"), index)
        if self.kind == "array":
            return tf.gather(self._tensor("images"), index), label
        if self.kind == "encoded":
            return _decode.decode_rgb(tf.gather(self._tensor("encoded"), index)), label
        return _decode.decode_rgb(tf.io.read_file(tf.gather(self._tensor("paths"), index))), label

    def stream_dataset(self):
        """The stream as `(image or bytes, int32 label)` elements ("stream" kind)."""
        ds = self.stream()
        return ds.map(backend.without_autograph(lambda x, y: (x, tf.cast(y, tf.int32))))

    def element_dataset(self):
        """All images in index order as `(image, label)`: decoded uint8 `[H, W, 3]` (or the
        stored float32 array), int32 label."""
        if self.kind == "stream":
            ds = self.stream_dataset()
            if self.stream_encoded:
                ds = ds.map(backend.without_autograph(lambda x, y: (_decode.decode_rgb(x), y)))
            return ds
        return tf.data.Dataset.range(self.num_examples).map(
            backend.without_autograph(self.lookup), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True)

    def subset(self, indices, name=None):
        """A random-access source holding the examples at `indices` (in that order)."""
        if self.kind == "stream":
            raise ValueError(f"{self.name}: subset needs a random-access source")
        indices = np.asarray(indices)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) or not len(indices):
            raise ValueError("indices must be a non-empty 1-D integer array")
        if indices.min() < 0 or indices.max() >= self.num_examples:
            raise ValueError(f"indices must lie in [0, {self.num_examples})")
        pick = lambda a: None if a is None else a[indices]  # noqa: E731
        return ImageSource(
            name=name or f"{self.name}[subset {len(indices)}]",
            num_examples=len(indices),
            labels=self.labels[indices],
            num_classes=self.num_classes,
            class_names=self.class_names,
            images=pick(self.images),
            encoded=pick(self.encoded),
            paths=None if self.paths is None else tuple(self.paths[i] for i in indices),
            skipped=self.skipped,
        )


# ---------------------------------------------------------------------------------------------
# Validation helpers.


def _to_rgb(images, what):
    """`[N, H, W]`, `[N, H, W, 1|3|4]` -> `[N, H, W, 3]` uint8 or float32 in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{what} must be [N, H, W] or [N, H, W, C] with C in (1, 3, 4), got shape "
            f"{images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{what}: no images (N = 0)")
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.floating):
        lo, hi = float(np.min(images)), float(np.max(images))
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(
                f"{what}: float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                "(pass uint8 for 0..255 pixels)"
            )
        images = images.astype(np.float32, copy=False)
    else:
        raise TypeError(f"{what} must be uint8 or float in [0, 1], got dtype {images.dtype}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] == 4:
        images = images[..., :3]  # drop alpha, as PIL's convert("RGB")
    return np.ascontiguousarray(images)


def _check_labels(labels, n, what, num_classes=None):
    """int32 `[n]` labels (-1 = unlabelled); ValueError on a count mismatch or bad values."""
    if labels is None:
        return np.full([n], -1, np.int32)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{what}: labels must be 1-D, got shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{what}: {len(labels)} labels for {n} images (counts must match)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{what}: labels must be integers, got dtype {labels.dtype}")
    if (labels < -1).any():
        raise ValueError(f"{what}: labels must be class indices >= 0 (or -1 for unlabelled)")
    if num_classes is not None and (labels >= num_classes).any():
        raise ValueError(f"{what}: labels must be < num_classes={num_classes}")
    return labels.astype(np.int32)


def _classes(labels, num_classes, class_names, what):
    if class_names is not None:
        class_names = tuple(str(c) for c in class_names)
        if num_classes is None:
            num_classes = len(class_names)
    if num_classes is None and (labels >= 0).any():
        num_classes = int(labels.max()) + 1
    if num_classes is not None and (labels >= num_classes).any():
        raise ValueError(f"{what}: labels must be < num_classes={num_classes}")
    return num_classes, class_names


def _check_path(path, what, directory=False):
    path = pathlib.Path(os.fspath(path)).expanduser()
    ok = path.is_dir() if directory else path.is_file()
    if not ok:
        kind = "directory" if directory else "file"
        raise ValueError(f"{what}: {kind} {str(path)!r} does not exist or is not a {kind}")
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        raise ValueError(f"{what}: {str(path)!r} is not readable")
    return path


def _check_split(split, allowed, what):
    if split not in allowed:
        raise ValueError(f"{what}: split must be one of {allowed}, got {split!r}")


# ---------------------------------------------------------------------------------------------
# In-memory data.


def from_arrays(images, labels=None, *, num_classes=None, class_names=None, name="arrays"):
    """Source from NumPy arrays ("fit() on custom data").

    Args:
      images: `[N, H, W]` or `[N, H, W, C]` (C = 1, 3, 4), uint8 or float in [0, 1]; grayscale
        is replicated to RGB and alpha dropped.
      labels: `[N]` integers (-1 = unlabelled), or None (all unlabelled).
      num_classes, class_names: optional; num_classes defaults to max(label) + 1.
    """
    images = _to_rgb(images, f"{name}: images")
    labels = _check_labels(labels, len(images), name, num_classes)
    num_classes, class_names = _classes(labels, num_classes, class_names, name)
    return ImageSource(
        name=name, num_examples=len(images), labels=labels, num_classes=num_classes,
        class_names=class_names, images=images,
    )


def _split_element(element, image_key, label_key):
    if isinstance(element, dict):
        if image_key not in element:
            raise ValueError(f"dataset elements are dicts without the image key {image_key!r}")
        return element[image_key], element.get(label_key)
    if isinstance(element, (tuple, list)):
        if len(element) != 2:
            raise ValueError("dataset elements must be image, (image, label) or a dict")
        return element[0], element[1]
    return element, None


def from_dataset(dataset, *, num_classes=None, class_names=None, in_memory="auto",
                 image_key="image", label_key="label", num_examples=None, on_error="raise",
                 max_memory_bytes=DEFAULT_MAX_MEMORY_BYTES, name="dataset"):
    """Source from a finite `tf.data.Dataset` of images, `(image, label)` or dicts.

    Images: decoded `[H, W, C]` (uint8, or float in [0, 1]), or encoded bytes (scalar strings).
    With `in_memory` (True, or "auto": when the images have one static shape and fit in
    `max_memory_bytes`) the dataset is read once into an "array"/"encoded" source; otherwise it
    becomes a "stream" source re-read each epoch (`num_examples` is then counted once if its
    cardinality is unknown). An infinite dataset is an error. Undecodable bytes: `on_error` as
    in `image_folder` (in memory; a stream raises TensorFlow's decode error when reached).
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset).__name__}")
    card = int(dataset.cardinality())
    if card == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"{name}: the dataset is infinite; pass a finite dataset (no repeat())")
    spec = dataset.element_spec
    image_spec, label_spec = _split_element(spec, image_key, label_key)
    encoded = image_spec.dtype == tf.string
    if in_memory == "auto":
        shape = image_spec.shape
        in_memory = encoded or (
            shape.is_fully_defined()
            and card >= 0
            and card * shape.num_elements() * image_spec.dtype.size <= max_memory_bytes
        )
    pairs = dataset.map(backend.without_autograph(
        lambda *e: _split_element(e[0] if len(e) == 1 else e, image_key, label_key)))
    if label_spec is None:
        pairs = pairs.map(backend.without_autograph(lambda x, _: (x, tf.constant(-1, tf.int32))))
    if not in_memory:
        n = card if card >= 0 else num_examples
        if n is None:
            n = int(pairs.reduce(np.int64(0), lambda c, _: c + 1))
        return ImageSource(
            name=name, num_examples=int(n), labels=None, num_classes=num_classes,
            class_names=None if class_names is None else tuple(class_names),
            stream=lambda: pairs, stream_encoded=encoded,
        )
    xs, ys = [], []
    for x, y in pairs.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError(f"{name}: the dataset is empty")
    labels = np.asarray(ys)
    if encoded:
        labels = _check_labels(labels, len(xs), name, num_classes)
        num_classes, class_names = _classes(labels, num_classes, class_names, name)
        return _encoded_source(name, xs, [f"{name}[{i}]" for i in range(len(xs))], labels,
                               num_classes, class_names, on_error, max_memory_bytes)
    shapes = {np.shape(x) for x in xs}
    if len(shapes) != 1:
        raise ValueError(
            f"{name}: in-memory images must share one shape, got {len(shapes)} shapes; "
            "pass encoded images or in_memory=False"
        )
    return from_arrays(np.stack(xs), labels, num_classes=num_classes, class_names=class_names,
                       name=name)


# ---------------------------------------------------------------------------------------------
# Files.


def _encoded_source(name, encoded, names, labels, num_classes, class_names, on_error,
                    max_memory_bytes):
    """Decodes `encoded` bytes (finding bad ones) into an "array" source when they share a shape
    and fit in memory, else keeps them as an "encoded" source."""
    good, images, shapes, bad = _decode.decode_all(encoded, names, on_error=on_error)
    if len(good) == 0:
        raise ValueError(f"{name}: none of the {len(encoded)} images could be decoded")
    labels = np.asarray(labels, np.int32)[good]
    same = isinstance(images, np.ndarray)
    if same and images.nbytes <= max_memory_bytes:
        source = ImageSource(name=name, num_examples=len(good), labels=labels,
                             num_classes=num_classes, class_names=class_names, images=images,
                             skipped=tuple(bad))
    else:
        keep = np.empty(len(good), dtype=object)
        keep[:] = [encoded[i] for i in good]
        source = ImageSource(name=name, num_examples=len(good), labels=labels,
                             num_classes=num_classes, class_names=class_names, encoded=keep,
                             skipped=tuple(bad))
    return source


def image_folder(root, *, in_memory=True, verify=True, on_error="raise",
                 extensions=_decode.IMAGE_EXTENSIONS, max_memory_bytes=DEFAULT_MAX_MEMORY_BYTES,
                 name=None):
    """Source from `root/<class>/<image>` (one subfolder per class; labels by sorted name).

    JPEG/PNG/BMP/GIF; grayscale and RGBA become RGB. With `in_memory`, files are read and
    decoded once (an "array" source when all images share a shape and fit in
    `max_memory_bytes`, else "encoded"). Otherwise a "files" source reads them in the pipeline;
    `verify` then decodes each file once up front so that bad files are found now (without it,
    a bad file stops the pipeline with TensorFlow's decode error when reached).
    Errors: `root` missing or unreadable, no class subfolders, a class subfolder with no images.
    """
    _decode.check_on_error(on_error)
    root = _check_path(root, "image_folder root", directory=True)
    name = name or f"image_folder:{root}"
    extensions = tuple(e.lower() for e in extensions)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{name}: no class subfolders in {str(root)!r} (expected root/<class>/)")
    paths, labels = [], []
    for label, d in enumerate(class_dirs):
        files = sorted(
            f for f in d.iterdir() if f.is_file() and f.suffix.lower() in extensions
        )
        if not files:
            raise ValueError(
                f"{name}: class folder {str(d)!r} has no images with extensions {extensions}"
            )
        paths += [str(f) for f in files]
        labels += [label] * len(files)
    class_names = tuple(d.name for d in class_dirs)
    if in_memory:
        encoded, bad_reads = [], []
        for p in paths:
            try:
                with open(p, "rb") as f:
                    encoded.append(f.read())
            except OSError as e:
                encoded.append(b"")
                bad_reads.append((p, f"unreadable ({e.strerror or e})"))
        if bad_reads and on_error == "raise":
            _decode.report_bad(bad_reads, on_error, "files")
        source = _encoded_source(name, encoded, paths, labels, len(class_names), class_names,
                                 on_error, max_memory_bytes)
        if bad_reads:  # replace the generic "empty file" reason with the read error
            reasons = dict(bad_reads)
            skipped = tuple((n, reasons.get(n, r)) for n, r in source.skipped)
            object.__setattr__(source, "skipped", skipped)
        return source
    skipped = ()
    labels = np.asarray(labels, np.int32)
    if verify:
        good, _, _, bad = _decode.decode_all(paths, paths, on_error=on_error, keep_pixels=False,
                                             from_files=True)
        paths = [paths[i] for i in good]
        labels = labels[good]
        skipped = tuple(bad)
        if not paths:
            raise ValueError(f"{name}: none of the images could be decoded")
    return ImageSource(name=name, num_examples=len(paths), labels=labels,
                       num_classes=len(class_names), class_names=class_names,
                       paths=tuple(paths), skipped=skipped)


def _read_tar(path, prefixes=("",)):
    """`{member name: bytes}` of the regular files in a (gzipped) tar archive whose names start
    with one of `prefixes`."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            if m.isfile() and name.startswith(prefixes):
                out[name] = tar.extractfile(m).read()
    return out


def _cifar_from_members(members, split, rows, name, on_error):
    """CIFAR-10 split from archive members `split/<class>/<file>.jpg`; `rows` (canonical index
    CSV rows for this split, or None) fix the order and are checked against the folders."""
    prefix = split + "/"
    files = sorted(k for k in members if k.startswith(prefix))
    if not files:
        raise ValueError(f"{name}: no files under {prefix!r} in the archive")
    label_of = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    folder_label = {}
    for f in files:
        parts = f.split("/")
        if len(parts) != 3 or parts[1] not in label_of:
            raise ValueError(f"{name}: unexpected archive member {f!r} (expected "
                             f"{split}/<class>/<file> with a CIFAR-10 class name)")
        folder_label[f] = label_of[parts[1]]
    if rows is not None:
        rows = sorted(rows, key=lambda r: int(r["canonical_index"]))
        order = [r["jpeg_path"] for r in rows]
        missing = sorted(set(files) - set(order))[:5]
        absent = sorted(set(order) - set(files))[:5]
        if missing or absent:
            raise ValueError(f"{name}: index CSV and archive disagree (not in CSV: {missing}; "
                             f"not in archive: {absent})")
        for r in rows:
            if int(r["label"]) != folder_label[r["jpeg_path"]]:
                raise ValueError(f"{name}: CSV label of {r['jpeg_path']} contradicts its folder")
        files = order
    labels = [folder_label[f] for f in files]
    return _encoded_source(name, [members[f] for f in files], files, labels, 10,
                           CIFAR10_CLASSES, on_error, DEFAULT_MAX_MEMORY_BYTES)


def _read_csv_rows(text, split):
    reader = csv.DictReader(io.StringIO(text))
    need = {"split", "canonical_index", "label", "jpeg_path"}
    if not need <= set(reader.fieldnames or ()):
        raise ValueError(f"index CSV must have the columns {sorted(need)}")
    return [r for r in reader if r["split"] == split]


def cifar10_archive(path, split="train", *, index_csv="auto", on_error="raise"):
    """CIFAR-10 from the JPEG archive (`train|test/<class>/NNNN.jpg`), decoded into memory.

    Labels follow the class order of `CIFAR10_CLASSES`. `index_csv`: a
    `split,canonical_index,label,jpeg_path` CSV putting the images in the original release
    order; "auto" uses `cifar10_canonical_index.csv` beside the archive when present (else
    the order is sorted by path); None forces path order. Decoded splits are cached per process.
    """
    _check_split(split, ("train", "test"), "cifar10_archive")
    path = _check_path(path, "cifar10_archive path")
    if index_csv == "auto":
        candidate = path.parent / "cifar10_canonical_index.csv"
        index_csv = candidate if candidate.is_file() else None
    stat = path.stat()
    key = ("cifar10_archive", str(path), stat.st_size, stat.st_mtime, split, str(index_csv),
           on_error)
    if key not in _CACHE:
        rows = None
        if index_csv is not None:
            rows = _read_csv_rows(_check_path(index_csv, "index_csv").read_text(), split)
        members = _read_tar(path, (split + "/",))
        _CACHE[key] = _cifar_from_members(members, split, rows, f"cifar10_archive:{split}",
                                          on_error)
    return _CACHE[key]


def demo(split="train"):
    """The embedded CIFAR-10 demo subset (`sslhsic_tf/data/demo_data/`, see its README.md):
    5,000 train / 1,000 test images, class-balanced, original JPEG bytes from the archive."""
    _check_split(split, ("train", "test"), "demo")
    path = _check_path(DEMO_ARCHIVE, "demo archive")
    key = ("demo", str(path), path.stat().st_size, path.stat().st_mtime, split)
    if key not in _CACHE:
        members = _read_tar(path, ("index.csv", split + "/"))
        rows = _read_csv_rows(members.pop("index.csv").decode(), split)
        _CACHE[key] = _cifar_from_members(members, split, rows, f"demo:{split}", "raise")
    return _CACHE[key]


def cifar10_lossless(path, split="train"):
    """The lossless CIFAR-10 subset npz (`x_train`, `y_train`, `x_test`, `y_test`)."""
    _check_split(split, ("train", "test"), "cifar10_lossless")
    path = _check_path(path, "cifar10_lossless path")
    with np.load(path) as data:
        keys = (f"x_{split}", f"y_{split}")
        for k in keys:
            if k not in data:
                raise ValueError(f"cifar10_lossless: {str(path)!r} has no array {k!r}")
        images, labels = data[keys[0]], data[keys[1]]
    return from_arrays(images, labels, num_classes=10, class_names=CIFAR10_CLASSES,
                       name=f"cifar10_lossless:{split}")


def _read_idx(path, expect_ndim):
    """An IDX file (optionally gzipped) of unsigned bytes -> ndarray."""
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{str(path)!r} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    if ndim != expect_ndim:
        raise ValueError(f"{str(path)!r}: expected {expect_ndim} dimensions, found {ndim}")
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(np.int64)
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise ValueError(f"{str(path)!r}: header says {dims.tolist()} but holds {len(body)} bytes"
                         " (truncated or corrupt)")
    return np.frombuffer(body, np.uint8).reshape(dims)


def fashion_mnist(directory, split="train"):
    """Fashion-MNIST from its four IDX files (gzipped or not), grayscale replicated to RGB."""
    _check_split(split, ("train", "test"), "fashion_mnist")
    directory = _check_path(directory, "fashion_mnist directory", directory=True)
    stem = "train" if split == "train" else "t10k"
    found = {}
    for part, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        for suffix in (".gz", ""):
            p = directory / f"{stem}-{part}{suffix}"
            if p.is_file():
                found[part] = _read_idx(p, ndim)
                break
        else:
            raise ValueError(f"fashion_mnist: {stem}-{part}(.gz) not found in {str(directory)!r}")
    return from_arrays(found["images-idx3-ubyte"], found["labels-idx1-ubyte"], num_classes=10,
                       class_names=FASHION_MNIST_CLASSES, name=f"fashion_mnist:{split}")


# ---------------------------------------------------------------------------------------------
# TensorFlow Datasets.


def tfds_source(name, split="train", *, data_dir=None, image_key="image", label_key="label",
                in_memory="auto", download=False, on_error="raise",
                max_memory_bytes=DEFAULT_MAX_MEMORY_BYTES):
    """Any TFDS image dataset by name and split (`tfds.load(name, split=..., data_dir=...)`).

    Images are read encoded (`SkipDecoding`) and decoded by this library. With `in_memory`
    (True, or "auto": the image feature has a fixed shape and the split fits in
    `max_memory_bytes`) the split is decoded once into an "array" source; otherwise it is a
    "stream" source read in TFDS order (`shuffle_files=False`) and decoded in the pipeline.
    Labels: `label_key` (None or absent: unlabelled, -1).
    """
    import tensorflow_datasets as tfds

    _decode.check_on_error(on_error)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(f"TFDS has no dataset {name!r} ({str(e).splitlines()[0]})") from None
    features = builder.info.features
    if image_key not in features:
        raise ValueError(f"tfds {name!r} has no feature {image_key!r}; features: "
                         f"{sorted(features.keys())}")
    image_feature = features[image_key]
    is_image = isinstance(image_feature, tfds.features.Image)
    decoders = {image_key: tfds.decode.SkipDecoding()} if is_image else None
    try:
        with backend.tfds_download_retries():  # offline fails in seconds, not minutes
            ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False,
                           download=download, decoders=decoders)
    except (ValueError, TypeError, KeyError):
        raise  # a wrong split or argument: TFDS' own message
    except Exception as e:  # noqa: BLE001 - not prepared, no network, a download that failed
        where = builder.data_dir
        raise TfdsUnavailableError(
            f"TFDS {name!r} is not prepared in {where} and could not be "
            f"{'downloaded' if download else 'read (download=False)'} "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    has_label = label_key is not None and label_key in features
    num_classes = class_names = None
    if has_label and hasattr(features[label_key], "num_classes"):
        num_classes = int(features[label_key].num_classes)
        class_names = tuple(features[label_key].names)
    pairs = ds.map(backend.without_autograph(
        lambda e: (e[image_key],
                   tf.cast(e[label_key], tf.int32) if has_label else tf.constant(-1, tf.int32))))
    card = int(ds.cardinality())
    n = card if card >= 0 else int(pairs.reduce(np.int64(0), lambda c, _: c + 1))
    label = f"tfds:{name}:{split}"
    if in_memory == "auto":
        shape = tuple(image_feature.shape) if hasattr(image_feature, "shape") else (None,)
        fixed = all(d is not None for d in shape)
        in_memory = fixed and n * int(np.prod(shape)) <= max_memory_bytes
    if not in_memory:
        return ImageSource(name=label, num_examples=n, labels=None, num_classes=num_classes,
                           class_names=class_names, stream=lambda: pairs,
                           stream_encoded=is_image)
    xs, ys = [], []
    for x, y in pairs.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    labels = _check_labels(np.asarray(ys), len(ys), label, num_classes)
    if not is_image:
        return from_arrays(np.stack(xs), labels, num_classes=num_classes,
                           class_names=class_names, name=label)
    names = [f"{label}[{i}]" for i in range(len(xs))]
    return _encoded_source(label, xs, names, labels, num_classes, class_names, on_error,
                           max_memory_bytes)


# ---------------------------------------------------------------------------------------------
# Flags.


def from_spec(spec):
    """A source from a string (for command-line flags):

    "demo[:train|test]", "cifar10_archive:PATH[:split]", "cifar10_lossless:PATH[:split]",
    "fashion_mnist:DIR[:split]", "folder:DIR", "tfds:NAME[:split[:data_dir]]" (downloaded and
    prepared by TFDS on first use; `TfdsUnavailableError` where that fails, e.g. offline).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"source spec must be a non-empty string, got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind == "demo":
        return demo(rest or "train")
    if kind == "folder":
        return image_folder(rest)
    if kind == "tfds":
        parts = rest.split(":", 2)
        return tfds_source(parts[0], parts[1] if len(parts) > 1 else "train",
                           data_dir=parts[2] if len(parts) > 2 else None, download=True)
    loaders = {"cifar10_archive": cifar10_archive, "cifar10_lossless": cifar10_lossless,
               "fashion_mnist": fashion_mnist}
    if kind in loaders:
        path, _, split = rest.rpartition(":")
        if split not in ("train", "test"):
            path, split = rest, "train"
        return loaders[kind](path, split)
    raise ValueError(
        f"unknown source spec {spec!r}; expected demo, folder, tfds, cifar10_archive, "
        "cifar10_lossless or fashion_mnist"
    )
