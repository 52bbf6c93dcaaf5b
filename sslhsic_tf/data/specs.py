"""Source specs as text, without TensorFlow (metadata, zoo records)."""

import os


def describe_spec(spec):
    """A source spec without machine-local folders, for metadata that leaves the machine:
    "cifar10_archive:/a/b/x.tar.gz:test" -> "cifar10_archive:x.tar.gz:test",
    "tfds:NAME:split:DATA_DIR" -> "tfds:NAME:split"."""
    if not spec:
        return spec
    kind, _, rest = spec.partition(":")
    if kind in ("cifar10_archive", "cifar10_lossless", "fashion_mnist", "folder"):
        path, sep, split = rest.rpartition(":")
        if split not in ("train", "test"):
            path, sep, split = rest, "", ""
        return f"{kind}:{os.path.basename(os.path.normpath(path))}{sep}{split}"
    if kind == "tfds":
        return "tfds:" + ":".join(rest.split(":")[:2])
    return spec
