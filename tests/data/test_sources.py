"""Image sources: arrays, tf.data, image folders (with bad files), the real CIFAR-10 / Fashion-MNIST
files in ../shared/data, and TFDS through `tfds.testing.mock_data`."""

import gzip
import io
import logging
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sslhsic_tf.data import sources


def _decoded(source):
    return [(x.numpy(), int(y)) for x, y in source.element_dataset()]


# ------------------------------------------------------------------------------------------
# Arrays and tf.data.


def test_from_arrays_converts_to_rgb_and_checks_labels():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 6, 7), dtype=np.uint8)
    s = sources.from_arrays(gray, [0, 1, 2, 1, 0])
    assert s.kind == "array" and s.image_shape == (6, 7, 3) and s.num_classes == 3
    np.testing.assert_array_equal(s.images[..., 2], gray)
    rgba = rng.random((4, 3, 3, 4)).astype(np.float32)
    s = sources.from_arrays(rgba, None)
    np.testing.assert_array_equal(s.images, rgba[..., :3])
    assert (s.labels == -1).all() and s.num_classes is None
    with pytest.raises(ValueError, match="3 labels for 5 images"):
        sources.from_arrays(gray, [0, 1, 2])
    with pytest.raises(ValueError, match=r"float images must lie in \[0, 1\]"):
        sources.from_arrays(rgba * 255)
    with pytest.raises(TypeError, match="uint8 or float"):
        sources.from_arrays(gray.astype(np.int64))
    with pytest.raises(ValueError, match="num_classes=2"):
        sources.from_arrays(gray, [0, 1, 2, 1, 0], num_classes=2)
    with pytest.raises(ValueError, match="2 class_names"):
        sources.from_arrays(gray, [0, 1, 2, 1, 0], num_classes=3, class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"N = 0"):
        sources.from_arrays(np.zeros((0, 4, 4, 3), np.uint8))


def test_from_dataset_in_memory_and_stream():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 10)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    mem = sources.from_dataset(ds, num_classes=4)
    assert mem.kind == "array" and mem.num_examples == 10
    np.testing.assert_array_equal(mem.images, x)
    np.testing.assert_array_equal(mem.labels, y)
    stream = sources.from_dataset(ds.filter(lambda a, b: True), in_memory=False)
    assert stream.kind == "stream" and stream.num_examples == 10  # counted once
    got = _decoded(stream)
    np.testing.assert_array_equal(np.stack([g[0] for g in got]), x)
    unlabelled = sources.from_dataset(tf.data.Dataset.from_tensor_slices(x[..., :1]))
    assert (unlabelled.labels == -1).all() and unlabelled.image_shape == (8, 8, 3)
    dicts = sources.from_dataset(tf.data.Dataset.from_tensor_slices({"image": x, "label": y}))
    np.testing.assert_array_equal(dicts.labels, y)
    with pytest.raises(ValueError, match="infinite"):
        sources.from_dataset(ds.repeat())
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        sources.from_dataset(x)


# ------------------------------------------------------------------------------------------
# Image folders.


def _save(path, array, fmt):
    mode = {2: "L", 3: "RGB"}.get(array.ndim) if array.ndim < 3 or array.shape[-1] == 3 else "RGBA"
    Image.fromarray(array, mode).save(path, fmt)


def _folder(tmp_path, same_size=False):
    rng = np.random.default_rng(2)
    root = tmp_path / "images"
    truth = {}
    specs = {
        "cat": [("a.png", (10, 12, 3)), ("b.png", (10, 12)), ("c.jpg", (10, 12, 3))],
        "dog": [("d.png", (10, 12, 4)), ("e.PNG", (10, 12, 3))],
    }
    for cls, files in specs.items():
        (root / cls).mkdir(parents=True)
        for i, (name, shape) in enumerate(files):
            if not same_size:
                shape = (shape[0] + i, shape[1] + 2 * i) + shape[2:]
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            _save(root / cls / name, a, "PNG" if name.lower().endswith("png") else "JPEG")
            rgb = np.asarray(Image.open(root / cls / name).convert("RGB"))
            truth[str(root / cls / name)] = rgb
    (root / "cat" / "notes.txt").write_text("not an image")
    return root, truth


@pytest.mark.parametrize("in_memory", [True, False])
def test_image_folder_decodes_like_pil(tmp_path, in_memory):
    root, truth = _folder(tmp_path)
    s = sources.image_folder(root, in_memory=in_memory)
    assert s.kind == ("encoded" if in_memory else "files")  # sizes differ
    assert s.class_names == ("cat", "dog") and s.num_examples == 5
    np.testing.assert_array_equal(s.labels, [0, 0, 0, 1, 1])
    for (img, label), name in zip(_decoded(s), sorted(truth)):
        ref = truth[name]
        assert img.shape == ref.shape
        if name.endswith("jpg"):  # two JPEG decoders: equal up to IDCT rounding
            assert np.abs(img.astype(int) - ref).mean() < 2
        else:
            np.testing.assert_array_equal(img, ref)


def test_image_folder_same_size_becomes_an_array(tmp_path):
    root, _ = _folder(tmp_path, same_size=True)
    s = sources.image_folder(root)
    assert s.kind == "array" and s.image_shape == (10, 12, 3)


def test_image_folder_bad_files_raise_or_are_counted(tmp_path, caplog):
    root, truth = _folder(tmp_path)
    good = open(sorted(truth)[0], "rb").read()
    (root / "dog" / "corrupt.jpg").write_bytes(b"this is not a jpeg")
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "empty.jpg").write_bytes(b"")
    for in_memory in (True, False):
        with pytest.raises(ValueError, match="3 images could not be read") as err:
            sources.image_folder(root, in_memory=in_memory)
        for name in ("corrupt.jpg", "truncated.png", "empty.jpg"):
            assert name in str(err.value)
        with caplog.at_level(logging.WARNING):
            s = sources.image_folder(root, in_memory=in_memory, on_error="skip")
        assert s.num_examples == 5 and len(s.skipped) == 3
        assert sorted(n.split("/")[-1] for n, _ in s.skipped) == [
            "corrupt.jpg", "empty.jpg", "truncated.png"]
        assert "skipping 3 unreadable" in caplog.text
        np.testing.assert_array_equal(s.labels, [0, 0, 0, 1, 1])
        assert len(_decoded(s)) == 5
        caplog.clear()


def test_image_folder_structural_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        sources.image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class subfolders"):
        sources.image_folder(tmp_path / "empty")
    root, _ = _folder(tmp_path)
    (root / "zebra").mkdir()
    (root / "zebra" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="zebra.*has no images"):
        sources.image_folder(root)
    with pytest.raises(ValueError, match="on_error"):
        sources.image_folder(root, on_error="ignore")


# ------------------------------------------------------------------------------------------
# The real files in ../shared/data.


def test_cifar10_archive_in_canonical_order(shared_data):
    s = sources.cifar10_archive(shared_data / "cifar10" / "cifar10_jpeg_q75.tar.gz", "test")
    assert s.kind == "array" and s.num_examples == 10000 and s.image_shape == (32, 32, 3)
    assert s.class_names == sources.CIFAR10_CLASSES
    np.testing.assert_array_equal(np.bincount(s.labels), [1000] * 10)
    # Independent check of the order: the lossless subset holds original pixels at known
    # canonical indices, and the original label vector.
    with np.load(shared_data / "cifar10" / "cifar10_lossless_subset.npz") as d:
        np.testing.assert_array_equal(s.labels, d["y_test_full"])
        idx, original = d["test_index"], d["x_test"].astype(np.float64)
    mse = ((s.images[idx].astype(np.float64) - original) ** 2).mean(axis=(1, 2, 3))
    psnr = 10 * np.log10(255.0**2 / mse)
    assert psnr.min() > 20 and np.median(psnr) > 28  # JPEG q75 of the same image
    assert sources.cifar10_archive(
        shared_data / "cifar10" / "cifar10_jpeg_q75.tar.gz", "test") is s  # cached
    with pytest.raises(ValueError, match="split"):
        sources.cifar10_archive(shared_data / "cifar10" / "cifar10_jpeg_q75.tar.gz", "val")
    with pytest.raises(ValueError, match="does not exist"):
        sources.cifar10_archive(shared_data / "cifar10" / "nope.tar.gz")


def test_cifar10_lossless(shared_data):
    s = sources.cifar10_lossless(shared_data / "cifar10" / "cifar10_lossless_subset.npz", "train")
    assert s.num_examples == 8068 and s.num_classes == 10 and s.images.dtype == np.uint8


def test_fashion_mnist_idx(shared_data, tmp_path):
    s = sources.fashion_mnist(shared_data / "fashion_mnist", "test")
    assert s.num_examples == 10000 and s.image_shape == (28, 28, 3)
    np.testing.assert_array_equal(np.bincount(s.labels), [1000] * 10)
    assert s.class_names[9] == "Ankle boot"
    # Independent parse of the first image and label.
    raw = gzip.open(shared_data / "fashion_mnist" / "t10k-images-idx3-ubyte.gz").read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert (magic, n, rows, cols) == (2051, 10000, 28, 28)
    first = np.frombuffer(raw[16:16 + 784], np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(s.images[0], np.stack([first] * 3, -1))
    labels = gzip.open(shared_data / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz").read()
    assert s.labels[0] == labels[8]
    # A truncated copy is an error, not a short data set.
    bad = tmp_path / "fm"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte").write_bytes(raw[: len(raw) - 100])
    (bad / "t10k-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(ValueError, match="truncated"):
        sources.fashion_mnist(bad, "test")
    (bad / "t10k-images-idx3-ubyte").write_bytes(raw[:16 + 784 * 10].replace(
        struct.pack(">I", 10000), struct.pack(">I", 10), 1))
    with pytest.raises(ValueError, match="10000 labels for 10 images"):
        sources.fashion_mnist(bad, "test")


# ------------------------------------------------------------------------------------------
# TFDS (mock data: nothing can be downloaded here).


def test_tfds_source_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        s = sources.tfds_source("cifar10", "train")
        assert s.kind == "array" and s.num_examples == 12 and s.image_shape == (32, 32, 3)
        assert s.num_classes == 10
        reference = list(tfds.load("cifar10", split="train").as_numpy_iterator())  # TFDS decodes
        np.testing.assert_array_equal(s.images, np.stack([r["image"] for r in reference]))
        np.testing.assert_array_equal(s.labels, [r["label"] for r in reference])
        stream = sources.tfds_source("cifar10", "train", in_memory=False)
        assert stream.kind == "stream" and stream.stream_encoded and stream.num_examples == 12
        np.testing.assert_array_equal(np.stack([x for x, _ in _decoded(stream)]), s.images)
        with pytest.raises(ValueError, match="no feature 'img'"):
            sources.tfds_source("cifar10", "train", image_key="img")


def test_from_spec_and_subset(shared_data):
    s = sources.from_spec("demo:test")
    assert s.num_examples == 1000
    sub = s.subset(np.arange(10, 20))
    np.testing.assert_array_equal(sub.images, s.images[10:20])
    np.testing.assert_array_equal(sub.labels, s.labels[10:20])
    lossless = sources.from_spec(
        f"cifar10_lossless:{shared_data / 'cifar10' / 'cifar10_lossless_subset.npz'}:test")
    assert lossless.num_examples == 1017
    with pytest.raises(ValueError, match="unknown source spec"):
        sources.from_spec("imagenet:/data")
    with pytest.raises(ValueError, match=r"\[0, 1000\)"):
        s.subset([1000])


def test_png_rgba_and_gray_bytes_from_dataset():
    """Encoded bytes in a tf.data.Dataset are decoded (alpha dropped, gray replicated)."""
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    blobs = []
    for a, mode in ((rgba, "RGBA"), (gray, "L")):
        b = io.BytesIO()
        Image.fromarray(a, mode).save(b, "PNG")
        blobs.append(b.getvalue())
    s = sources.from_dataset(tf.data.Dataset.from_tensor_slices((blobs, [1, 0])))
    assert s.kind == "array"
    np.testing.assert_array_equal(s.images[0], rgba[..., :3])
    np.testing.assert_array_equal(s.images[1], np.stack([gray] * 3, -1))


def test_tfds_offline_fails_within_seconds(tmp_path, monkeypatch):
    """An unprepared TFDS dataset on a machine without internet (every request goes to a proxy
    that refuses it) fails with TfdsUnavailableError in seconds: TFDS' own 10 retries with
    backoff took about 3.4 minutes (utils/backend.TFDS_DOWNLOAD_RETRIES)."""
    import time

    from tensorflow_datasets.core.download import downloader

    from sslhsic_tf.data import sources

    proxy = "http://127.0.0.1:9"
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, proxy)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "")
    start = time.monotonic()
    with pytest.raises(sources.TfdsUnavailableError, match="could not be downloaded"):
        sources.tfds_source("cifar10", "train", data_dir=str(tmp_path), download=True)
    assert time.monotonic() - start < 30
    assert downloader.MAX_RETRIES == 10  # TFDS' setting is restored for everyone else
