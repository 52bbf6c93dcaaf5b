"""Every method on the shared CIFAR-10 copy for the same CPU budget, side by side.

Runs `python -m sslhsic_tf.pretrain --config=configs/cifar10_<method>.py` for each method with
the same encoder, batch, number of epochs and seed (the presets' own augmentations and
optimizers), then prints a Markdown table of kNN and linear-probe accuracy with the command
that reproduces each row. Runs are resumable: a finished workdir is read, not retrained.

    python -m benchmarks.cifar10_methods --epochs 3 --width 0.25 --workdir runs/cifar10_methods

The zoo's architecture comparison (docs/zoo_cpu_runs.md): one method, one encoder per workdir, e.g.
    python -m benchmarks.cifar10_methods --methods ssl_hsic --epochs 1 --depth 10 --width 0.5 \
        --precision mixed_bfloat16 --workdir runs/arch/r10x0.5
"""

import argparse
import json
import os
import subprocess
import sys
import time

from sslhsic_tf import methods
from sslhsic_tf.configs import common

METHODS = tuple(methods.names())
# Short runs: a learned bandwidth must move within a few hundred steps (objectives.md: with the
# reference's Adam 3e-4 it stays near 1 and the run can settle in the collapse regime).
SHORT_RUN = {m: ["--config.method_kwargs.bandwidth_learning_rate=0.01"]
             for m in METHODS if "bandwidth_learning_rate" in methods.options(m)}


def command(method, args):
    workdir = os.path.join(args.workdir, method)
    return [
        sys.executable, "-m", "sslhsic_tf.pretrain", f"--config=configs/cifar10_{method}.py",
        f"--workdir={workdir}", f"--config.data.dataset=cifar10_archive:{args.archive}",
        f"--config.epochs={args.epochs}",
        f"--config.model.depth={args.depth}", f"--config.model.width_multiplier={args.width}",
        f"--config.batch_size={args.batch}",
        *([f"--config.mixed_precision={args.precision}"] if args.precision else []),
        *([f"--config.jit_compile={args.jit_compile}"] if args.jit_compile else []),
        f"--config.checkpoint_every_steps={args.checkpoint_every}",
        f"--config.eval.baseline_random={method == args.methods[0]}", *SHORT_RUN.get(method, []),
        "--verbose=2",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--depth", type=int, default=18)
    parser.add_argument("--precision", default="",
                        help="config.mixed_precision (default: the preset's, auto)")
    parser.add_argument("--jit-compile", default="", help="config.jit_compile (default: the "
                        "preset's, auto)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--checkpoint-every", type=int, default=65)
    parser.add_argument("--workdir", default="runs/cifar10_methods")
    parser.add_argument("--archive", default=os.path.relpath(common.CIFAR10_ARCHIVE),
                        help="the CIFAR-10 JPEG copy (default: the shared one beside the checkout)")
    args = parser.parse_args()

    rows = []
    for method in args.methods:
        cmd = command(method, args)
        results_path = os.path.join(args.workdir, method, "results.json")
        if not os.path.exists(results_path):
            t = time.time()
            print(f"== {method}: {' '.join(cmd[1:])}", flush=True)
            log = os.path.join(args.workdir, f"{method}.log")
            os.makedirs(args.workdir, exist_ok=True)
            with open(log, "w") as f:
                proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                print(f"   FAILED ({proc.returncode}); see {log}", flush=True)
                continue
            print(f"   done in {(time.time() - t) / 60:.1f} min", flush=True)
        with open(results_path) as f:
            rows.append((method, json.load(f), cmd))

    print()
    print(f"CIFAR-10 (shared JPEG q75 copy, 50,000 train / 10,000 test), ResNet-{args.depth} "
          f"x{args.width:g} (CIFAR stem), batch {args.batch}, {args.epochs:g} epochs, seed 0, "
          f"precision {args.precision or 'of the preset'}, 2-core CPU.")
    print("kNN: cosine, k = 200, T = 0.07; linear: offline L-BFGS logistic regression on frozen "
          "features (BN inference), l2 chosen on a held-out 20% of train.\n")
    print("| method | kNN top-1 | linear top-1 | train minutes | train CPU-hours | command |")
    print("|---|---|---|---|---|---|")
    for method, r, cmd in rows:
        cpu_hours = (f"{r['train_cpu_seconds'] / 3600:.2f}" if "train_cpu_seconds" in r
                     else "-")  # runs before the cost was recorded
        print(f"| {method} | {100 * r['knn_top1']:.1f} | {100 * r['linear_top1']:.1f} | "
              f"{r['train_seconds'] / 60:.0f} | {cpu_hours} | "
              f"`{' '.join(['python'] + cmd[1:-1])}` |")
    base = next((r for _, r, _ in rows if "baseline_random_knn_top1" in r), None)
    if base:
        print(f"| random init (same encoder) | {100 * base['baseline_random_knn_top1']:.1f} | "
              f"{100 * base['baseline_random_linear_top1']:.1f} | 0 | 0 | (evaluated in the "
              f"{args.methods[0]} run) |")


if __name__ == "__main__":
    main()
