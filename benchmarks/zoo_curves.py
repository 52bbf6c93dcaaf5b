"""Accuracy against epochs of the zoo's CPU runs, and what reaching a kNN target would take.

Reads the kNN monitor curve (`knn_curve` in each run's results.json, or the `knn_top1` rows of
train_log.csv while a run is still going) and the run's CPU cost (`train_cpu_seconds` of its
results or latest checkpoint), fits kNN = a + b ln(epochs) by least squares on the points from
`--fit-from` epochs on, and prints per run: the points, the fit, and the epochs and CPU-hours at
which the fit reaches each `--targets` value (CPU-hours scale linearly with epochs at the
measured CPU-hours per epoch). Writes one PNG with the curves, their fits and the targets.

    python -m benchmarks.zoo_curves ../runs/zoo/ssl_hsic ../runs/zoo/cissl \\
        --out benchmarks/results/zoo_cpu

A log-linear fit of one run's monitor is an estimate, not a promise: the curve bends as the
cosine learning rate decays (flat early, steep late, flat at the end), so mid-run points say
little about a longer run. The better guide is the schedule fit: for a method with finished runs
of different lengths (each a whole schedule), kNN at the end of each run (k = 200, all test
images) against ln(epochs). `--point METHOD:EPOCHS:KNN` adds the end of a run whose folder is
gone (state where the figure comes from).
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
    """{"name", "method", "points": [(epoch, knn)], "cpu_seconds", "epochs_done", "total_epochs",
    "final_knn"} (final_knn: k = 200 on the whole test split once the run has finished, else None)."""
    name = "/".join(os.path.normpath(workdir).split(os.sep)[-2:])  # e.g. zoo/cissl
    results_path = os.path.join(workdir, "results.json")
    points, cpu_seconds, epochs_done, total, method, final = [], None, None, None, None, None
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
        points = [(p["epoch"], p["knn_top1"]) for p in results.get("knn_curve", {}).get("points", [])]
        cpu_seconds = results.get("train_cpu_seconds")
        epochs_done = total = results.get("epochs")
        method = results.get("method")
        if results.get("knn_k") == 200:
            final = results.get("knn_top1")
    else:  # a run still going: its log (read as the loop reads it) and latest checkpoint
        from sslhsic_tf.training import loop

        with open(os.path.join(workdir, "config.json")) as f:
            config = json.load(f)["config"]
        method = config.get("method")
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
    return {"name": name, "method": method, "points": points, "cpu_seconds": cpu_seconds,
            "epochs_done": epochs_done, "total_epochs": total, "final_knn": final}


def parse_point(text):
    """"METHOD:EPOCHS:KNN" -> (method, epochs, knn), knn a fraction in (0, 1]."""
    parts = text.split(":")
    try:
        method, epochs, knn = parts[0], float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(
            f"--point expected METHOD:EPOCHS:KNN, e.g. ssl_hsic_no_target:3:0.503; got {text!r}")
    if len(parts) != 3 or not method or epochs <= 0 or not 0 < knn <= 1:
        raise argparse.ArgumentTypeError(
            f"--point expected METHOD:EPOCHS:KNN with epochs > 0 and kNN a fraction in (0, 1], "
            f"e.g. ssl_hsic_no_target:3:0.503; got {text!r}")
    return method, epochs, knn


def schedule_ends(runs, extra_points):
    """{method: sorted [(epochs, final kNN)]}: the end of every finished run, plus extra_points."""
    ends = {}
    for run in runs:
        if run["final_knn"] is not None and run["method"]:
            ends.setdefault(run["method"], []).append((run["total_epochs"], run["final_knn"]))
    for method, epochs, knn in extra_points:
        ends.setdefault(method, []).append((epochs, knn))
    return {method: sorted(points) for method, points in ends.items()}


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


def reach_targets(fit, targets, cpu_hours_per_epoch, phrase, hours_digits):
    """Prints and returns {"0.65": {"epochs", "cpu_hours"}} where the fit reaches each target."""
    reached = {}
    for target in targets:
        epochs = epochs_to_reach(fit, target)
        hours = (epochs * cpu_hours_per_epoch
                 if cpu_hours_per_epoch and math.isfinite(epochs) else None)
        reached[f"{target:.2f}"] = {"epochs": epochs, "cpu_hours": hours}
        print(f"   {100 * target:.0f}% kNN {phrase} {epochs:,.0f} epochs"
              + (f", {hours:,.{hours_digits}f} CPU-hours on this machine" if hours else ""))
    return reached


def plot_panel(axis, series, targets, style, xlabel, ylabel, title):
    """series: [(label, [(epoch, knn)], fit or None, {target: {"epochs"}}, fit start or None)]."""
    for label, points, fit, reached, fit_from in series:
        if not points:
            continue
        epochs, knn = zip(*points)
        line, = axis.plot(epochs, [100 * k for k in knn], style, label=label)
        if fit:
            start = fit_from or min(epochs)
            reach = max([v["epochs"] for v in reached.values() if math.isfinite(v["epochs"])]
                        + [max(epochs)])
            xs = [start * (reach / start) ** (i / 50) for i in range(51)]
            axis.plot(xs, [100 * (fit[0] + fit[1] * math.log(x)) for x in xs], "--",
                      color=line.get_color(), alpha=0.6, label=f"{label} fit")
    for target in targets:
        axis.axhline(100 * target, color="gray", lw=0.8, ls=":")
    axis.set_xscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.65, 0.70])
    parser.add_argument("--fit-from", type=float, default=1.5,
                        help="fit only points from this epoch on (the first epoch is warmup)")
    parser.add_argument("--out", default="", help="folder for zoo_curves.png and zoo_curves.json")
    parser.add_argument("--point", type=parse_point, action="append", default=[],
                        help="METHOD:EPOCHS:KNN, the end of a finished run not given as a folder")
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
            record["targets"] = reach_targets(fit, args.targets, per_epoch, "at about", 0)
        summary.append(record)

    # The schedule fit: one point per finished run (its final kNN), per method.
    cost = {}  # CPU-hours per epoch of each method's longest run (the latest code): longest last
    for record in sorted(summary, key=lambda r: r["epochs_done"] or 0):
        if record["method"] and record["cpu_hours_per_epoch"]:
            cost[record["method"]] = record["cpu_hours_per_epoch"]
    schedule = {}
    for method, ends in schedule_ends(runs, args.point).items():
        print(f"== {method}, end of each run (k=200, all test images): "
              + ", ".join(f"{e:g} epochs: {100 * k:.1f}" for e, k in ends))
        fit = fit_log(ends, 0) if len({e for e, _ in ends}) > 1 else None
        schedule[method] = {"ends": ends, "fit": fit, "cpu_hours_per_epoch": cost.get(method),
                            "targets": {}}
        if not fit:
            continue
        print(f"   schedule fit: kNN = {100 * fit[0]:.1f} + {100 * fit[1]:.1f} ln(epochs)")
        schedule[method]["targets"] = reach_targets(fit, args.targets, cost.get(method),
                                                    "at the end of a run of about", 1)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "zoo_curves.json"), "w") as f:
            json.dump({"runs": summary, "schedule_fits": schedule}, f, indent=1, default=str)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (axis, ends_axis) = plt.subplots(1, 2, figsize=(13, 4.5))
        plot_panel(axis, [(r["name"], r["points"], r["fit"], r["targets"], args.fit_from)
                          for r in summary], args.targets, "o-", "epochs (log scale)",
                   "kNN top-1 (%), k = 200",
                   "CIFAR-10 CPU zoo runs: kNN monitor and log-linear extrapolation")
        plot_panel(ends_axis, [(m, r["ends"], r["fit"], r["targets"], None)
                               for m, r in schedule.items()], args.targets, "s",
                   "epochs of the whole run (log scale)",
                   "final kNN top-1 (%), k = 200, all test images",
                   "End of each run and the schedule fit")
        figure.tight_layout()
        figure.savefig(os.path.join(args.out, "zoo_curves.png"), dpi=110)
        print(f"wrote {args.out}/zoo_curves.png and zoo_curves.json")


if __name__ == "__main__":
    main()
