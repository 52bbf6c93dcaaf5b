"""Input-pipeline throughput (tf.data on the CPU) and the cost of the pixel stage on the accelerator
path (keras.ops in a jitted function, on whatever device is present). Prints a table.

Rows (each measured in a fresh process):
- cifar10 decode: read `cifar10_jpeg_q75.tar.gz` (train split) and decode all 50,000 JPEGs into
  memory (done once per process; the pipelines then gather decoded uint8 images).
- cifar10 two-view: `pretrain_dataset(cifar10_archive, "cifar10", 256)`: 32 px, batched crops,
  pixel stage in tf.data (TensorFlow backend). Target: >= 4,000 images/s (8,000 views/s).
- cifar10 crops only: the same with `pixel_stage="device"` (what tf.data does on the JAX path).
- imagenet-style 224: `pretrain_dataset(source, "byol", 64)`: the BYOL pair at 224 px (23-tap
  blur on both views, p 1.0 / 0.1) from JPEG bytes in memory: CIFAR-10 train images upsampled
  (PIL bicubic) to random sizes 256..400 x 256..400 and re-encoded as JPEG quality 90, so every
  image is decoded, cropped and resized per element, as ImageNet images are.
- pixel stage, jitted: `pixel_augment_views` on ready-made crops inside `tf.function`
  (graph, and XLA) and `jax.jit`, for the cifar10 pair (batch 256, 32 px) and the BYOL pair
  (batch 32, 224 px), on the default device of each framework.

Numbers on a shared machine move with the load: the table also gives process CPU seconds per
1,000 images (all threads), which contention inflates much less than wall time.

    python -m benchmarks.input_pipeline            # full
    python -m benchmarks.input_pipeline --quick    # fewer batches (about a minute)
Data: ../shared/data (or --data / $SSLHSIC_SHARED_DATA).
"""

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR_TARGET = 4000


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get(
        "SSLHSIC_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data")))
    p.add_argument("--quick", action="store_true", help="fewer batches")
    p.add_argument("--json", action="store_true", help="also print the rows as one JSON line")
    p.add_argument("--worker", choices=("cifar", "imagenet", "pixel"), help=argparse.SUPPRESS)
    p.add_argument("--backend", default="tensorflow", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _throughput(dataset, batch, batches, warmup=5):
    """Images/s and CPU seconds per 1,000 images over `batches` batches after `warmup`."""
    it = iter(dataset)
    for _ in range(warmup):
        next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = batches * batch
    return {"images_per_s": n / wall, "cpu_s_per_1k": 1000 * cpu / n}


def _worker_cifar(args):
    from sslhsic_tf.data import pipeline, sources

    path = os.path.join(args.data, "cifar10", "cifar10_jpeg_q75.tar.gz")
    start, cpu = time.perf_counter(), time.process_time()
    src = sources.cifar10_archive(path, "train")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    batches = 20 if args.quick else 80
    rows = {"decode": {"images_per_s": src.num_examples / wall,
                       "cpu_s_per_1k": 1000 * cpu / src.num_examples}}
    ds = pipeline.pretrain_dataset(src, "cifar10", 256, seed=0)
    rows["two_view"] = _throughput(ds, 256, batches)
    ds = pipeline.pretrain_dataset(src, "cifar10", 256, seed=0, pixel_stage="device")
    rows["crops_only"] = _throughput(ds, 256, batches)
    return rows


def _imagenet_like_source(data, n):
    import io

    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from sslhsic_tf.data import sources

    cifar = sources.demo("train")  # real photos; the shared archive gives the same images
    rng = np.random.default_rng(0)
    blobs = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(256, 401, 2))
        img = Image.fromarray(cifar.images[i % cifar.num_examples]).resize((w, h), Image.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        blobs.append(buf.getvalue())
    labels = cifar.labels[np.arange(n) % cifar.num_examples]
    return sources.from_dataset(tf.data.Dataset.from_tensor_slices((blobs, labels)),
                                name="upsampled-cifar-jpeg")


def _worker_imagenet(args):
    from sslhsic_tf.data import pipeline

    src = _imagenet_like_source(args.data, 128 if args.quick else 512)
    assert src.kind == "encoded"
    ds = pipeline.pretrain_dataset(src, "byol", 64, seed=0)
    return {"two_view_224": _throughput(ds, 64, 4 if args.quick else 12, warmup=2)}


def _worker_pixel(args):
    import numpy as np

    from sslhsic_tf.data import device
    from sslhsic_tf.utils import random as srandom

    if args.backend == "jax":
        import jax

        device_name = str(jax.devices()[0])
    else:
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        device_name = gpus[0].name if gpus else "CPU"
    rows = {}
    cases = [("cifar10", 256, 32, 10 if args.quick else 40),
             ("byol", 32, 224, 3 if args.quick else 10)]
    for preset, batch, size, steps in cases:
        rng = np.random.default_rng(0)
        views = tuple(rng.random((batch, size, size, 3)).astype("float32") for _ in range(2))

        def augment(v, step, preset=preset):
            return device.pixel_augment_views(v, srandom.stateless_seed(0, step), preset)

        if args.backend == "jax":
            jitted = jax.jit(augment)
            runs = {"jax.jit": lambda s, f=jitted: [o.block_until_ready() for o in f(views, s)]}
        else:
            tviews = tuple(tf.constant(v) for v in views)
            runs = {}
            for name, xla in (("tf.function", False), ("tf.function XLA", True)):
                f = tf.function(augment, jit_compile=xla)
                # The step goes in as a tensor: a Python int would retrace every call.
                runs[name] = lambda s, f=f: [o.numpy() for o in f(tviews, tf.constant(s))]
        for name, run in runs.items():
            run(0)
            run(1)
            start, cpu = time.perf_counter(), time.process_time()
            for s in range(steps):
                run(s + 2)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            n = steps * batch
            rows[f"{preset} {name}"] = {"images_per_s": n / wall, "cpu_s_per_1k": 1000 * cpu / n,
                                        "device": device_name, "batch": batch, "size": size}
    return rows


def worker(args):
    os.environ["KERAS_BACKEND"] = args.backend
    fn = {"cifar": _worker_cifar, "imagenet": _worker_imagenet, "pixel": _worker_pixel}
    print(json.dumps(fn[args.worker](args)))


def main(argv=None):
    args = _parse(argv)
    if args.worker:
        return worker(args)
    me = [os.path.abspath(__file__), "--data", args.data] + (["--quick"] if args.quick else [])
    results = {
        "cifar": common.run_worker(me + ["--worker", "cifar"]),
        "imagenet": common.run_worker(me + ["--worker", "imagenet"]),
        "pixel_tf": common.run_worker(me + ["--worker", "pixel", "--backend", "tensorflow"]),
        "pixel_jax": common.run_worker(me + ["--worker", "pixel", "--backend", "jax"]),
    }
    rows = []

    def add(what, detail, r, views=2):
        if "images_per_s" not in r:
            rows.append([what, detail, "error", "", "", r.get("error", "")[:60]])
            return
        ips = r["images_per_s"]
        rows.append([what, detail, f"{ips:,.0f}", f"{views * ips:,.0f}",
                     f"{r['cpu_s_per_1k']:.2f}", r.get("device", "CPU (tf.data)")])

    c = results["cifar"]
    if "error" in c:
        add("cifar10", "", c)
    else:
        add("cifar10 decode (once)", "50,000 JPEG 32x32", c["decode"], views=0)
        add("cifar10 two-view", "32 px, batch 256, tf.data", c["two_view"])
        add("cifar10 crops only", "pixel_stage=device", c["crops_only"])
    i = results["imagenet"]
    add("imagenet-style two-view", "byol 224 px, batch 64, JPEG", i.get("two_view_224", i))
    for key in ("pixel_tf", "pixel_jax"):
        r = results[key]
        if "error" in r:
            add(f"pixel stage ({key[6:]})", "", r)
            continue
        for name, row in r.items():
            add(f"pixel stage {name}", f"batch {row['batch']} x {row['size']} px", row)
    for row in rows:
        if row[0] == "cifar10 decode (once)":
            row[3] = ""
    print(common.format_table(
        ["pipeline", "setting", "images/s", "views/s", "CPU s / 1k img", "device"], rows))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f} at the end.")
    if "two_view" in c:
        ok = c["two_view"]["images_per_s"] >= CIFAR_TARGET
        print(f"CIFAR two-view target >= {CIFAR_TARGET:,} images/s: "
              f"{'met' if ok else 'NOT met'} ({c['two_view']['images_per_s']:,.0f}).")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
