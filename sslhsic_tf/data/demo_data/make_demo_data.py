"""Builds `cifar10_demo.tar.gz`, the embedded demo subset of CIFAR-10 (see README.md here).

Selection: for each of the 10 classes, the first 500 train and the first 100 test images in the
original CIFAR-10 order (the `canonical_index` of `cifar10_canonical_index.csv`), i.e. 5,000
train + 1,000 test images. The JPEG bytes are copied unchanged from `cifar10_jpeg_q75.tar.gz`.

The output is byte-reproducible: members sorted, owner/time fields zeroed, gzip mtime 0, so
re-running this script on the same inputs gives the same tar (checked by the tests) and, with
the same zlib, the same sha256.

Usage:
  python -m sslhsic_tf.data.demo_data.make_demo_data --shared ../shared/data/cifar10 \
      [--out sslhsic_tf/data/demo_data/cifar10_demo.tar.gz]
"""

import argparse
import csv
import gzip
import hashlib
import io
import pathlib
import tarfile

PER_CLASS = {"train": 500, "test": 100}
HERE = pathlib.Path(__file__).resolve().parent
ARCHIVE_NAME = "cifar10_jpeg_q75.tar.gz"
INDEX_NAME = "cifar10_canonical_index.csv"
FIELDS = ("split", "canonical_index", "label", "jpeg_path")


def select_rows(index_csv_text, per_class=None):
    """The demo's CSV rows: the first `per_class[split]` rows per (split, label) in canonical
    order."""
    per_class = per_class or PER_CLASS
    rows = list(csv.DictReader(io.StringIO(index_csv_text)))
    rows.sort(key=lambda r: (r["split"] != "train", int(r["canonical_index"])))
    taken, out = {}, []
    for r in rows:
        key = (r["split"], int(r["label"]))
        if r["split"] in per_class and taken.get(key, 0) < per_class[r["split"]]:
            taken[key] = taken.get(key, 0) + 1
            out.append({k: r[k] for k in FIELDS})
    return out


def _tarinfo(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build(shared_dir, out_path):
    """Writes the demo archive; returns its sha256 (hex)."""
    shared_dir = pathlib.Path(shared_dir)
    rows = select_rows((shared_dir / INDEX_NAME).read_text())
    wanted = {r["jpeg_path"] for r in rows}
    with tarfile.open(shared_dir / ARCHIVE_NAME) as src:
        data = {}
        for m in src:
            name = m.name.lstrip("./")
            if m.isfile() and name in wanted:
                data[name] = src.extractfile(m).read()
    missing = wanted - set(data)
    if missing:
        raise ValueError(f"{len(missing)} selected files are not in the archive, e.g. "
                         f"{sorted(missing)[:3]}")
    index = io.StringIO()
    writer = csv.DictWriter(index, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        members = [("index.csv", index.getvalue().encode())]
        members += [(name, data[name]) for name in sorted(data)]
        for name, payload in members:
            tar.addfile(_tarinfo(name, len(payload)), io.BytesIO(payload))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    payload = out.getvalue()
    pathlib.Path(out_path).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, help="folder with the CIFAR-10 archive + CSV")
    parser.add_argument("--out", default=str(HERE / "cifar10_demo.tar.gz"))
    args = parser.parse_args(argv)
    digest = build(args.shared, args.out)
    print(f"wrote {args.out}\nsha256 {digest}")


if __name__ == "__main__":
    main()
