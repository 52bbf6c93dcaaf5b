"""SSL-HSIC loss-plus-gradient time and peak memory against the batch size, exact vs random features.

TensorFlow backend, `tf.function`-compiled step: loss and its gradient w.r.t. the views
`[M, B, D]` (M = 4, D = 256, F = 512 by default), a fresh stateless feature seed per call. Each
configuration runs in its own process; memory is that process's peak RSS while the step runs
(high-water mark reset after imports and input creation), and its increase over the RSS just
before the first call.

`--backend jax` times the same computation under the JAX backend (`jax.jit` of
`jax.value_and_grad`, no TensorFlow imported); `--backend both` runs both, side by side, and
prints JAX / TensorFlow per row. `--bandwidth` adds the learned-bandwidth objective and its
gradient w.r.t. log c (as one training step computes them).

    python -m benchmarks.objectives            # B = 256 ... 4096
    python -m benchmarks.objectives --quick    # B = 256, 1024, 4096; 3 repeats
    python -m benchmarks.objectives --backend both --bandwidth --batch-sizes 1024,4096
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
    p.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax", "both"),
                   help="Keras backend of the timed step (both: side by side)")
    p.add_argument("--bandwidth", action="store_true",
                   help="also the bandwidth objective and its gradient w.r.t. log c")
    p.add_argument("--quick", action="store_true", help="B = 256, 1024, 4096 and 3 repeats")
    p.add_argument("--json", action="store_true", help="also print the rows as one JSON line")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=("exact", "features"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _ssl_hsic(views, log_c, seed, num_features):
    """The SSL-HSIC loss at bandwidth exp(log_c) (no gradient to the bandwidth, as in a step)."""
    from keras import ops

    from sslhsic_tf.objectives import ssl_hsic_loss

    c = ops.stop_gradient(ops.exp(log_c))
    return ssl_hsic_loss(views, bandwidth=c, num_features=num_features, seed=seed)["loss"]


def _bandwidth_term(views, log_c, seed, with_bandwidth):
    """-J(exp(log_c)), the bandwidth's loss (views under stop-gradient), or 0 without it."""
    from keras import ops

    from sslhsic_tf.objectives import bandwidth_objective
    from sslhsic_tf.utils import random as srandom

    if not with_bandwidth:
        return 0.0 * log_c
    return -bandwidth_objective(views, ops.exp(log_c), seed=srandom.stateless_seed(seed, 7))


def _step_tensorflow(args, num_features):
    import tensorflow as tf

    @tf.function(jit_compile=args.jit_compile)
    def step(v, log_c, seed):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([v, log_c])
            loss = _ssl_hsic(v, log_c, seed, num_features)
            band = _bandwidth_term(v, log_c, seed, args.bandwidth)
        return loss, tape.gradient(loss, v), tape.gradient(band, log_c)

    return step, lambda x: tf.constant(x), lambda i: tf.constant([i, 7], tf.int32)


def _step_jax(args, num_features):
    import jax
    import jax.numpy as jnp

    def step(v, log_c, seed):
        loss, grad_v = jax.value_and_grad(lambda v: _ssl_hsic(v, log_c, seed, num_features))(v)
        grad_c = jax.grad(lambda c: _bandwidth_term(v, c, seed, args.bandwidth))(log_c)
        return loss, grad_v, grad_c

    return jax.jit(step), jnp.asarray, lambda i: jnp.asarray([i, 7], jnp.int32)


def worker(args):
    """One configuration in this process (backend from KERAS_BACKEND); prints a JSON object."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    num_features = None if args.mode == "exact" else args.num_features
    make = _step_jax if keras.backend.backend() == "jax" else _step_tensorflow
    step, tensor, seed = make(args, num_features)
    views = tensor(
        np.random.default_rng(0).normal(size=(args.views, args.batch, args.dim)).astype(np.float32)
    )
    log_c = tensor(np.float32(0.0))

    def call(i):
        loss, grad, grad_c = step(views, log_c, seed(i))
        np.asarray(loss), np.asarray(grad)[0, 0, 0], np.asarray(grad_c)  # wait for the results

    common.reset_peak_rss()
    baseline = common.rss_mib()
    timing = common.time_call(call, repeats=args.repeats, warmup=1)
    peak = common.peak_rss_mib()
    loss, grad, grad_c = step(views, log_c, seed(0))
    print(json.dumps({**timing, "peak_mib": peak, "baseline_mib": baseline,
                      "loss": float(np.asarray(loss)), "grad_c": float(np.asarray(grad_c)),
                      "backend": keras.backend.backend()}))


def main(argv=None):
    args = _parse(argv)
    if args.worker:
        return worker(args)
    batches = [256, 1024, 4096] if args.quick else [int(b) for b in args.batch_sizes.split(",")]
    repeats = 3 if args.quick else args.repeats
    script = os.path.abspath(__file__)
    backends = ("tensorflow", "jax") if args.backend == "both" else (args.backend,)
    rows, results, all_results = [], {}, {}
    for b in batches:
        n = args.views * b
        for mode in ("features", "exact"):
            if mode == "exact" and b > args.max_exact_batch:
                gib = 4 * n * n / 2**30
                rows.append([b, n, mode, "-", "skipped", "-", "-", "-",
                             f"N x N matrices {gib:.1f} GiB each; --max-exact-batch"])
                continue
            argv_w = [script, "--worker", f"--batch={b}", f"--mode={mode}", f"--views={args.views}",
                      f"--dim={args.dim}", f"--num-features={args.num_features}", f"--repeats={repeats}"]
            if args.jit_compile:
                argv_w.append("--jit-compile")
            if args.bandwidth:
                argv_w.append("--bandwidth")
            for backend in backends:  # side by side: one backend's run right after the other's
                r = common.run_worker(argv_w, env={"KERAS_BACKEND": backend})
                all_results[(backend, b, mode)] = r
                if backend == backends[0]:
                    results[(b, mode)] = r
                if "error" in r:
                    rows.append([b, n, mode, backend, "error", "-", "-", "-", r["error"][:80]])
                    continue
                note = f"min {1000 * r['min_s']:.1f} ms; loss {r['loss']:.6f}"
                other = all_results.get((backends[0], b, mode), {})
                if backend != backends[0] and "error" not in other:
                    note += f"; {backend} / {backends[0]} = {r['median_s'] / other['median_s']:.2f}"
                rows.append([b, n, mode, backend, f"{1000 * r['median_s']:.1f}",
                             f"{1000 * r['cpu_s']:.0f}", f"{r['peak_mib']:.0f}",
                             f"{r['peak_mib'] - r['baseline_mib']:.0f}", note])
                print(f"  done B={b} {mode} {backend}", file=sys.stderr, flush=True)
    compiled = "XLA" if args.jit_compile else "tf.function"
    print(f"SSL-HSIC loss + gradient w.r.t. views{' + bandwidth objective' if args.bandwidth else ''}"
          f" (TensorFlow: {compiled}; JAX: jax.jit), M={args.views}, D={args.dim}, "
          f"F={args.num_features}, median of {repeats} calls, {os.cpu_count()} CPU cores")
    print(common.format_table(
        ["B", "N", "estimator", "backend", "time ms", "CPU ms", "peak RSS MiB", "Δ RSS MiB",
         "note"], rows))
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
        keys = ["B", "N", "estimator", "backend", "time_ms", "cpu_ms", "peak_mib", "delta_mib",
                "note"]
        print(json.dumps([dict(zip(keys, r)) for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
