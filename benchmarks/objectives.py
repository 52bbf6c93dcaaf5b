"""SSL-HSIC loss-plus-gradient time and peak memory against the batch size, exact vs random features.

TensorFlow backend, `tf.function`-compiled step: loss and its gradient w.r.t. the views
`[M, B, D]` (M = 4, D = 256, F = 512 by default), a fresh stateless feature seed per call. Each
configuration runs in its own process; memory is that process's peak RSS while the step runs
(high-water mark reset after imports and input creation), and its increase over the RSS just
before the first call.

    python -m benchmarks.objectives            # B = 256 ... 4096
    python -m benchmarks.objectives --quick    # B = 256, 1024, 4096; 3 repeats
Targets: features time(B=4096) / time(B=1024) <= 4.5 (linear in N) and <= 1 s at B = 4096.
"""

import argparse
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

RATIO_TARGET = 4.5
TIME_TARGET_S = 1.0


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="256,512,1024,2048,4096", help="comma-separated B values")
    p.add_argument("--views", type=int, default=4, help="M")
    p.add_argument("--dim", type=int, default=256, help="D")
    p.add_argument("--num-features", type=int, default=512, help="F")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per configuration (median reported)")
    p.add_argument("--max-exact-batch", type=int, default=1024,
                   help="skip the exact estimator above this B (its O(N^2) matrices grow as 16 B^2 floats)")
    p.add_argument("--jit-compile", action="store_true", help="tf.function(jit_compile=True) (XLA)")
    p.add_argument("--quick", action="store_true", help="B = 256, 1024, 4096 and 3 repeats")
    p.add_argument("--json", action="store_true", help="also print the rows as one JSON line")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=("exact", "features"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def worker(args):
    """One configuration in this process; prints a JSON object."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import tensorflow as tf

    from sslhsic_tf.objectives import ssl_hsic_loss

    num_features = None if args.mode == "exact" else args.num_features
    views = tf.constant(
        np.random.default_rng(0).normal(size=(args.views, args.batch, args.dim)).astype(np.float32)
    )

    @tf.function(jit_compile=args.jit_compile)
    def step(v, seed):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = ssl_hsic_loss(v, num_features=num_features, seed=seed)["loss"]
        return loss, tape.gradient(loss, v)

    def call(i):
        loss, grad = step(views, tf.constant([i, 7], tf.int32))
        loss.numpy(), grad.numpy()[0, 0, 0]  # wait for the results

    common.reset_peak_rss()
    baseline = common.rss_mib()
    timing = common.time_call(call, repeats=args.repeats, warmup=1)
    peak = common.peak_rss_mib()
    print(json.dumps({**timing, "peak_mib": peak, "baseline_mib": baseline}))


def main(argv=None):
    args = _parse(argv)
    if args.worker:
        return worker(args)
    batches = [256, 1024, 4096] if args.quick else [int(b) for b in args.batch_sizes.split(",")]
    repeats = 3 if args.quick else args.repeats
    script = os.path.abspath(__file__)
    rows, results = [], {}
    for b in batches:
        n = args.views * b
        for mode in ("features", "exact"):
            if mode == "exact" and b > args.max_exact_batch:
                gib = 4 * n * n / 2**30
                rows.append([b, n, mode, "skipped", "-", "-", "-",
                             f"N x N matrices {gib:.1f} GiB each; --max-exact-batch"])
                continue
            argv_w = [script, "--worker", f"--batch={b}", f"--mode={mode}", f"--views={args.views}",
                      f"--dim={args.dim}", f"--num-features={args.num_features}", f"--repeats={repeats}"]
            if args.jit_compile:
                argv_w.append("--jit-compile")
            r = common.run_worker(argv_w)
            results[(b, mode)] = r
            if "error" in r:
                rows.append([b, n, mode, "error", "-", "-", "-", r["error"][:80]])
                continue
            rows.append([b, n, mode, f"{1000 * r['median_s']:.1f}", f"{1000 * r['cpu_s']:.0f}",
                         f"{r['peak_mib']:.0f}", f"{r['peak_mib'] - r['baseline_mib']:.0f}",
                         f"min {1000 * r['min_s']:.1f} ms"])
            print(f"  done B={b} {mode}", file=sys.stderr, flush=True)
    print(f"SSL-HSIC loss + gradient w.r.t. views, TensorFlow {'XLA' if args.jit_compile else 'tf.function'}, "
          f"M={args.views}, D={args.dim}, F={args.num_features}, median of {repeats} calls, "
          f"{os.cpu_count()} CPU cores")
    print(common.format_table(
        ["B", "N", "estimator", "time ms", "CPU ms", "peak RSS MiB", "Δ RSS MiB", "note"], rows))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"time: median wall time per call; CPU: process CPU time per call (all threads); "
          f"load average at the end {load:.1f} (wall times are only meaningful on a quiet machine)")
    f1, f4 = results.get((1024, "features")), results.get((4096, "features"))
    if f1 and f4 and "error" not in f1 and "error" not in f4:
        ratio = f4["median_s"] / f1["median_s"]
        print(f"features: time(B=4096)/time(B=1024) = {ratio:.2f} (target <= {RATIO_TARGET}: "
              f"{'met' if ratio <= RATIO_TARGET else 'NOT met'})")
        print(f"features: B=4096 takes {f4['median_s']:.3f} s (target <= {TIME_TARGET_S} s: "
              f"{'met' if f4['median_s'] <= TIME_TARGET_S else 'NOT met'})")
        cores = os.cpu_count() or 1
        print(f"features, CPU time: ratio {f4['cpu_s'] / f1['cpu_s']:.2f}; B=4096 uses {f4['cpu_s']:.3f} CPU s "
              f"per call, i.e. >= {f4['cpu_s'] / cores:.3f} s wall on {cores} idle cores "
              "(a lower bound to compare with the wall time when the machine is shared)")
    if args.json:
        keys = ["B", "N", "estimator", "time_ms", "cpu_ms", "peak_mib", "delta_mib", "note"]
        print(json.dumps([dict(zip(keys, r)) for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
