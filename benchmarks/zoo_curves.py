"""Accuracy against epochs of the zoo's CPU runs, and what reaching a kNN target would take.

Reads the kNN monitor curve (`knn_curve` in each run's results.json, or the `knn_top1` rows of
train_log.csv while a run is still going) and the run's CPU cost (`train_cpu_seconds` of its
results or latest checkpoint), fits kNN = a + b ln(epochs) by least squares on the points from
`--fit-from` epochs on, and prints per run: the points, the fit, and the epochs and CPU-hours at
which the fit reaches each `--targets` value (CPU-hours scale linearly with epochs at the
measured CPU-hours per epoch). Writes one PNG with the curves, their fits and the targets.

    python -m benchmarks.zoo_curves ../runs/zoo/ssl_hsic ../runs/zoo/cissl \\
        --out benchmarks/results/zoo_cpu

A log-linear fit of a short run is an estimate, not a promise: these curves bend down as the
learning rate decays at the end of each run, and a longer run's curve depends on its own
schedule; it says the order of magnitude (tens or hundreds of epochs).
"""

import argparse
import glob
import json
import math
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_run(workdir):
    """{"name", "points": [(epoch, knn)], "cpu_seconds", "epochs_done", "total_epochs"}."""
    name = os.path.basename(os.path.normpath(workdir))
    results_path = os.path.join(workdir, "results.json")
    points, cpu_seconds, epochs_done, total = [], None, None, None
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
        points = [(p["epoch"], p["knn_top1"]) for p in results.get("knn_curve", {}).get("points", [])]
        cpu_seconds = results.get("train_cpu_seconds")
        epochs_done = total = results.get("epochs")
    else:  # a run still going: its log (read as the loop reads it) and latest checkpoint
        from sslhsic_tf.training import loop

        with open(os.path.join(workdir, "config.json")) as f:
            config = json.load(f)["config"]
        states = sorted(glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*", "state.json")))
        state = {}
        if states:
            with open(states[-1]) as f:
                state = json.load(f)
        if state.get("total_steps") and config.get("epochs"):
            per_epoch = state["total_steps"] / config["epochs"]
            total = config["epochs"]
            epochs_done = state["step"] / per_epoch
            points = [(p["epoch"], p["knn_top1"]) for p in loop._knn_curve(
                os.path.join(workdir, "train_log.csv"), config["checkpoint_every_steps"], per_epoch)]
        cpu_seconds = state.get("train_cpu_seconds")
    return {"name": name, "points": points, "cpu_seconds": cpu_seconds,
            "epochs_done": epochs_done, "total_epochs": total}


def fit_log(points, fit_from):
    """(a, b) of knn = a + b ln(epoch), least squares over points with epoch >= fit_from."""
    used = [(math.log(e), k) for e, k in points if e >= fit_from]
    if len(used) < 2:
        return None
    n = len(used)
    mean_x = sum(x for x, _ in used) / n
    mean_y = sum(y for _, y in used) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in used)
    if sxx == 0:
        return None
    b = sum((x - mean_x) * (y - mean_y) for x, y in used) / sxx
    return mean_y - b * mean_x, b


def epochs_to_reach(fit, target):
    a, b = fit
    if b <= 0:
        return math.inf
    return math.exp((target - a) / b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.65, 0.70])
    parser.add_argument("--fit-from", type=float, default=1.5,
                        help="fit only points from this epoch on (the first epoch is warmup)")
    parser.add_argument("--out", default="", help="folder for zoo_curves.png and zoo_curves.json")
    args = parser.parse_args()

    runs = [read_run(w) for w in args.workdirs]
    summary = []
    for run in runs:
        fit = fit_log(run["points"], args.fit_from)
        per_epoch = (run["cpu_seconds"] / 3600 / run["epochs_done"]
                     if run["cpu_seconds"] and run["epochs_done"] else None)
        print(f"== {run['name']}: {run['epochs_done'] or 0:.2f} of {run['total_epochs']} epochs, "
              f"{(run['cpu_seconds'] or 0) / 3600:.2f} CPU-hours"
              + (f" ({per_epoch:.3f} per epoch)" if per_epoch else ""))
        print("   kNN (k=200) by epoch: " + ", ".join(f"{e:.1f}: {100 * k:.1f}"
                                                     for e, k in run["points"]))
        record = {**run, "fit": fit, "cpu_hours_per_epoch": per_epoch, "targets": {}}
        if fit:
            print(f"   fit: kNN = {100 * fit[0]:.1f} + {100 * fit[1]:.1f} ln(epochs) "
                  f"(points from epoch {args.fit_from:g})")
            for target in args.targets:
                epochs = epochs_to_reach(fit, target)
                hours = epochs * per_epoch if per_epoch and math.isfinite(epochs) else None
                record["targets"][f"{target:.2f}"] = {"epochs": epochs, "cpu_hours": hours}
                print(f"   {100 * target:.0f}% kNN at about {epochs:,.0f} epochs"
                      + (f", {hours:,.0f} CPU-hours on this machine" if hours else ""))
        summary.append(record)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "zoo_curves.json"), "w") as f:
            json.dump(summary, f, indent=1, default=str)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(7, 4.5))
        for record in summary:
            if not record["points"]:
                continue
            epochs, knn = zip(*record["points"])
            line, = axis.plot(epochs, [100 * k for k in knn], "o-", label=record["name"])
            if record["fit"]:
                a, b = record["fit"]
                reach = max([v["epochs"] for v in record["targets"].values()
                             if math.isfinite(v["epochs"])] + [max(epochs)])
                xs = [args.fit_from * (reach / args.fit_from) ** (i / 50) for i in range(51)]
                axis.plot(xs, [100 * (a + b * math.log(x)) for x in xs], "--",
                          color=line.get_color(), alpha=0.6, label=f"{record['name']} fit")
        for target in args.targets:
            axis.axhline(100 * target, color="gray", lw=0.8, ls=":")
        axis.set_xscale("log")
        axis.set_xlabel("epochs (log scale)")
        axis.set_ylabel("kNN top-1 (%), k = 200")
        axis.set_title("CIFAR-10 CPU zoo runs: kNN monitor and log-linear extrapolation")
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(os.path.join(args.out, "zoo_curves.png"), dpi=110)
        print(f"wrote {args.out}/zoo_curves.png and zoo_curves.json")


if __name__ == "__main__":
    main()
