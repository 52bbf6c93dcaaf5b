"""The fault-injection suite: every test records the faults it injects and the ones the system
survived (handled as specified: resumed, stopped or rolled back cleanly, or refused with a
one-line error); the counts are printed at the end of the run ("faults: N injected, M survived").

Shared fixtures: `faults` (the ledger), `tiny_npz` (a small real CIFAR-10 subset, from the
embedded demo data, as an npz that `cifar10_lossless:PATH:split` reads), `bad_data` (damaged and
invalid inputs built from it and from the demo archive).
"""

import numpy as np
import pytest

from tests import helpers
from tests.faults import scripts


@pytest.fixture
def faults():
    return helpers.FAULTS


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory):
    """64 train and 64 test real CIFAR-10 images (decoded from the embedded demo subset)."""
    from sslhsic_tf import data

    arrays = {}
    for split in ("train", "test"):
        source = data.demo(split)
        arrays[f"x_{split}"] = source.images[: scripts.TINY_EXAMPLES]
        arrays[f"y_{split}"] = source.labels[: scripts.TINY_EXAMPLES].astype(np.uint8)
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def bad_data(tiny_npz, tmp_path_factory):
    """Invalid and damaged inputs, built from the real subset: name -> path."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("bad_data")
    with np.load(tiny_npz) as d:
        x, y = d["x_train"], d["y_train"]
    out = {}

    def npz(name, images, labels):
        out[name] = root / f"{name}.npz"
        np.savez(out[name], x_train=images, y_train=labels, x_test=images, y_test=labels)

    npz("float_0_255", x.astype(np.float32), y)  # float pixels, 0..255 instead of [0, 1]
    npz("int64_pixels", x.astype(np.int64), y)
    labels = y.astype(np.int64)
    labels[5] = 12
    npz("label_12_of_10", x, labels)
    npz("no_images", x[:0], y[:0])
    raw = tiny_npz.read_bytes()
    out["truncated_npz"] = root / "truncated.npz"
    out["truncated_npz"].write_bytes(raw[: len(raw) // 2])
    # The first 100 kB of a real CIFAR-10 JPEG archive (the demo archive has the same layout).
    from sslhsic_tf.data import sources

    out["truncated_tar_gz"] = root / "truncated.tar.gz"
    out["truncated_tar_gz"].write_bytes(sources.DEMO_ARCHIVE.read_bytes()[:100_000])

    def folder(name, classes, per_class, corrupt=False):
        out[name] = root / name
        for c in range(classes):
            d = out[name] / f"class{c:02d}"
            d.mkdir(parents=True)
            for i in range(per_class):
                png = tf.io.encode_png(x[(c * per_class + i) % len(x)]).numpy()
                (d / f"{i}.png").write_bytes(png)
        if corrupt:
            (out[name] / "class00" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")

    folder("corrupt_jpeg", 2, 2, corrupt=True)
    folder("twelve_classes", 12, 2)
    return out
