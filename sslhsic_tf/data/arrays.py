"""CIFAR-10 archives as NumPy arrays without TensorFlow (tarfile + pillow): the JAX path's input.

`cifar10_archive_arrays(path, split)` reads the same `train|test/<class>/NNNN.jpg` archives as
`sources.cifar10_archive` (the shared JPEG copy, the embedded demo subset) into uint8
`[N, 32, 32, 3]` images and int32 labels, in the release order where the archive has its
canonical index (as `sources.cifar10_archive` orders them), else in path order; both splits in
one pass and decoding in worker processes on request. Feed them to the step through
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


def cifar10_archive_arrays(path, split="train", num_workers=0):
    """(uint8 images `[N, H, W, 3]`, int32 labels `[N]`) of `split` in the archive at `path`.

    `split`: "train", "test", or a tuple of them (then a tuple of (images, labels) pairs, read
    in one pass over the archive). `num_workers` > 1 decodes in that many processes.
    """
    splits = (split,) if isinstance(split, str) else tuple(split)
    bad = [s for s in splits if s not in ("train", "test")]
    if bad or not splits:
        raise ValueError(f"split must be 'train' or 'test' (or a tuple of them); got {split!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0; got {num_workers!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive {path} does not exist")
    label_of = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    found = {s: [] for s in splits}  # split -> [(member name, jpeg bytes, label)]
    index_text = None
    index = path.parent / "cifar10_canonical_index.csv"
    if index.is_file():
        index_text = index.read_text()
    with tarfile.open(path) as tar:
        for member in tar:
            if member.name == "index.csv":  # the demo subset's own canonical index
                index_text = tar.extractfile(member).read().decode()
                continue
            parts = member.name.split("/")
            if not member.isfile() or parts[0] not in found:
                continue
            if len(parts) != 3 or parts[1] not in label_of:
                raise ValueError(f"{path}: unexpected archive member {member.name!r} (expected "
                                 f"{parts[0]}/<class>/<file> with a CIFAR-10 class name)")
            found[parts[0]].append((member.name, tar.extractfile(member).read(),
                                    label_of[parts[1]]))
    out = []
    for s in splits:
        if not found[s]:
            raise ValueError(f"{path}: no images under {s}/")
        order = None if index_text is None else _canonical_order(index_text, s)
        items = sorted(found[s], key=(lambda item: item[0]) if order is None
                       else (lambda item: order[item[0]]))
        encoded = [jpeg for _, jpeg, _ in items]
        if num_workers > 1:
            from concurrent import futures

            with futures.ProcessPoolExecutor(num_workers) as pool:
                decoded = list(pool.map(_decode, encoded, chunksize=512))
        else:
            decoded = [_decode(jpeg) for jpeg in encoded]
        out.append((np.stack(decoded), np.array([label for _, _, label in items], np.int32)))
    return out[0] if isinstance(split, str) else tuple(out)


def _decode(jpeg):
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"))


def _canonical_order(text, split):
    """{jpeg_path: canonical index} of `split` from a `split,canonical_index,...,jpeg_path` CSV."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["jpeg_path"]: int(r["canonical_index"]) for r in rows if r["split"] == split}
