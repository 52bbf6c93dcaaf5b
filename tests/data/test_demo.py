"""The embedded demo data: contents, the sha256 its README states, and byte-reproducibility."""

import gzip
import hashlib
import re

import numpy as np

from sslhsic_tf import data
from sslhsic_tf.data import sources
from sslhsic_tf.data.demo_data import make_demo_data


def test_importing_the_demo_maker_leaves_data_demo_a_function():
    # The data folder is a package (its maker is importable); it must not share the name of
    # `data.demo()`, which an import of the package would overwrite for the whole process.
    assert callable(data.demo) and data.demo is sources.demo


def test_demo_contents():
    train, test = sources.demo("train"), sources.demo("test")
    assert (train.num_examples, test.num_examples) == (5000, 1000)
    assert train.kind == "array" and train.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(np.bincount(train.labels), [500] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [100] * 10)
    assert train.class_names == sources.CIFAR10_CLASSES
    assert 60 < train.images.mean() < 180  # real photos, not blank


def test_readme_sha256_and_rebuild_are_identical(shared_data, tmp_path):
    readme = (sources.DEMO_DIR / "README.md").read_text()
    stated = re.search(r"`([0-9a-f]{64})`", readme).group(1)
    shipped = sources.DEMO_ARCHIVE.read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == stated
    make_demo_data.build(shared_data / "cifar10", tmp_path / "demo.tar.gz")
    # The tar inside is byte-identical (the gzip layer may differ between zlib builds).
    assert gzip.decompress((tmp_path / "demo.tar.gz").read_bytes()) == gzip.decompress(shipped)


def test_selection_rule():
    text = "split,canonical_index,label,jpeg_path\n" + "\n".join(
        f"{s},{i},{i % 2},{s}/c{i % 2}/{i:04d}.jpg" for s in ("train", "test") for i in range(9)
    )
    rows = make_demo_data.select_rows(text, {"train": 2, "test": 1})
    assert [(r["split"], r["canonical_index"]) for r in rows] == [
        ("train", "0"), ("train", "1"), ("train", "2"), ("train", "3"), ("test", "0"),
        ("test", "1")]
