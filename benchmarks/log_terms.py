"""The logged terms of runs against epochs, side by side: what a learning curve does not show.

Reads each run's train_log.csv (one row per checkpoint interval: the interval's means of every
logged term) and draws one panel per term with a line per run, e.g. SSL-HSIC's HSIC terms and
bandwidth beside BYOL's loss, and the gradient and weight norms of runs with
`--config.method_kwargs.log_norms=True` (their ratio is the relative step an SGD learning rate
multiplies). Prints the table of each term's last measured value per run.

    python -m benchmarks.log_terms RUN_A:label RUN_B:label --terms grad_norm,weight_norm,loss \\
        --out benchmarks/results/long_runs --name ssl_hsic_vs_byol
"""

import argparse
import csv
import glob
import json
import math
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_log(run):
    """(label, epochs per row, {term: [values]}) of `RUN[:label]` (a --workdir)."""
    path, _, label = run.partition(":")
    log = os.path.join(path, "train_log.csv")
    if not os.path.exists(log):
        raise SystemExit(f"{path}: no train_log.csv (expected a --workdir of sslhsic-pretrain)")
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)["config"]
    states = sorted(glob.glob(os.path.join(path, "checkpoints", "ckpt-*", "state.json")))
    if states:  # steps per epoch as the loop counts them (zoo_curves.read_run)
        with open(states[-1]) as f:
            per_epoch = json.load(f)["total_steps"] / config["epochs"]
    else:
        per_epoch = 50000 / config["batch_size"]  # CIFAR-10's train split
    epochs_per_row = config["checkpoint_every_steps"] / per_epoch
    terms = {}
    for row in rows:
        for key, value in row.items():
            if key == "epoch":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan  # "NA": not measured in that interval
            terms.setdefault(key, []).append(number)
    return label or os.path.basename(os.path.normpath(path)), epochs_per_row, terms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN or RUN:label")
    parser.add_argument("--terms", default="loss,grad_norm,weight_norm")
    parser.add_argument("--out", default="")
    parser.add_argument("--name", default="log_terms")
    args = parser.parse_args(argv)
    terms = [t.strip() for t in args.terms.split(",") if t.strip()]
    logs = [read_log(run) for run in args.runs]
    print("| run | epochs | " + " | ".join(terms) + " |")
    print("|---|---|" + "---|" * len(terms))
    for label, per_row, values in logs:
        rows = max(len(v) for v in values.values())
        last = {t: [v for v in values[t] if math.isfinite(v)] for t in terms if t in values}
        cells = [f"{last[t][-1]:.4g}" if last.get(t) else "-" for t in terms]
        print(f"| {label} | {rows * per_row:.1f} | " + " | ".join(cells) + " |")
    if not args.out:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    columns = min(3, len(terms))
    rows_of_panels = math.ceil(len(terms) / columns)
    figure, axes = plt.subplots(rows_of_panels, columns, squeeze=False,
                                figsize=(4.6 * columns, 3.4 * rows_of_panels))
    for axis, term in zip(axes.flat, terms):
        for label, per_row, values in logs:
            if term in values:  # measured rows only (the kNN monitor skips intervals)
                points = [((i + 1) * per_row, v) for i, v in enumerate(values[term])
                          if math.isfinite(v)]
                if points:
                    axis.plot(*zip(*points), "o-" if len(points) < 30 else "-", ms=3, label=label)
        axis.set_title(term)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(terms):]:
        axis.axis("off")
    figure.tight_layout()
    png = os.path.join(args.out, f"{args.name}.png")
    figure.savefig(png, dpi=110)
    with open(os.path.join(args.out, f"{args.name}.json"), "w") as f:
        json.dump([{"label": label, "epochs_per_row": per_row,
                    "terms": {t: values[t] for t in terms if t in values}}
                   for label, per_row, values in logs], f)
    print(f"wrote {png}")


if __name__ == "__main__":
    sys.exit(main())
