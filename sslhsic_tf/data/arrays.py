"""CIFAR-10 archives as NumPy arrays without TensorFlow (tarfile + pillow): the JAX path's input.

`cifar10_archive_arrays(path, split)` reads the same `train|test/<class>/NNNN.jpg` archives as
`sources.cifar10_archive` (the shared JPEG copy, the embedded demo subset) into uint8
`[N, 32, 32, 3]` images and int32 labels, in the release order where the archive has its
canonical index (as `sources.cifar10_archive` orders them), else in path order. Feed them to the step through
`device.augment_views` (crops and pixel augmentation inside the step).
"""

import csv
import io
import pathlib
import tarfile

import numpy as np

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
DEMO_ARCHIVE = pathlib.Path(__file__).resolve().parent / "demo_data" / "cifar10_demo.tar.gz"


def cifar10_archive_arrays(path, split="train"):
    """(uint8 images `[N, H, W, 3]`, int32 labels `[N]`) of `split` in the archive at `path`."""
    from PIL import Image

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive {path} does not exist")
    label_of = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    found, order = [], None
    index = path.parent / "cifar10_canonical_index.csv"
    if index.is_file():
        order = _canonical_order(index.read_text(), split)
    with tarfile.open(path) as tar:
        for member in tar:
            if member.name == "index.csv":  # the demo subset's own canonical index
                order = _canonical_order(tar.extractfile(member).read().decode(), split)
                continue
            parts = member.name.split("/")
            if not member.isfile() or parts[0] != split:
                continue
            if len(parts) != 3 or parts[1] not in label_of:
                raise ValueError(f"{path}: unexpected archive member {member.name!r} (expected "
                                 f"{split}/<class>/<file> with a CIFAR-10 class name)")
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                found.append((member.name, np.asarray(image.convert("RGB")), label_of[parts[1]]))
    if not found:
        raise ValueError(f"{path}: no images under {split}/")
    found.sort(key=(lambda item: item[0]) if order is None else (lambda item: order[item[0]]))
    images = np.stack([image for _, image, _ in found])
    return images, np.array([label for _, _, label in found], np.int32)


def _canonical_order(text, split):
    """{jpeg_path: canonical index} of `split` from a `split,canonical_index,...,jpeg_path` CSV."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["jpeg_path"]: int(r["canonical_index"]) for r in rows if r["split"] == split}
