"""PNG plots: training curves from a history or log file, and 2-D maps of embeddings by class.

Drawn on `matplotlib.figure.Figure` with the Agg canvas: no pyplot state, no GUI backend, safe
in scripts and on headless machines.
"""

import csv
import json
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslhsic_tf.evaluation import check_features, check_labels
from sslhsic_tf.evaluation.projection import pca, tsne

_LR_KEYS = ("lr", "learning_rate")
_MAX_PANELS = 12


def _to_float(value):
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _from_rows(rows, source):
    keys = []
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"`history` {source}: expected one dict per epoch; got {type(row).__name__}")
        keys.extend(k for k in row if k not in keys)
    return {k: [_to_float(row.get(k)) for row in rows] for k in keys}


def load_history(history):
    """Per-epoch series `{name: [float, ...]}` from any of the supported sources.

    Accepts a Keras `History` (or anything with a `.history` dict), a dict of lists, a list of
    per-epoch dicts, or a path to a `.csv` (e.g. `keras.callbacks.CSVLogger`), `.json` (dict
    of lists or list of dicts) or `.jsonl` (one dict per line) log. Missing entries (e.g. kNN
    logged every few epochs) become NaN; an `"epoch"` column, if any, is kept as a series.
    """
    source = "object"
    if isinstance(history, (str, os.PathLike)):
        source = os.fspath(history)
        if not os.path.exists(source):
            raise ValueError(f"`history` file {source} does not exist")
        extension = os.path.splitext(source)[1].lower()
        with open(source) as handle:
            if extension == ".csv":
                history = list(csv.DictReader(handle))
            elif extension == ".json":
                history = json.load(handle)
            elif extension == ".jsonl":
                history = [json.loads(line) for line in handle if line.strip()]
            else:
                raise ValueError(f"`history` file must be .csv, .json or .jsonl; got {source}")
    elif hasattr(history, "history") and isinstance(history.history, dict):
        epochs = list(getattr(history, "epoch", []) or [])
        history = dict(history.history)
        if epochs and "epoch" not in history:
            history["epoch"] = epochs
    if isinstance(history, list):
        series = _from_rows(history, source)
    elif isinstance(history, dict):
        series = {}
        for key, values in history.items():
            values = np.atleast_1d(np.asarray(values, dtype=object))
            series[str(key)] = [_to_float(v) for v in values]
        lengths = {len(v) for v in series.values()}
        if len(lengths) > 1:
            raise ValueError(f"`history` series have different lengths {sorted(lengths)}; expected one per epoch")
    else:
        raise TypeError(
            f"`history` must be a Keras History, dict, list of dicts or a log path; got {type(history).__name__}"
        )
    series = {k: v for k, v in series.items() if any(math.isfinite(x) for x in v)}
    if not series or all(k == "epoch" for k in series):
        raise ValueError(f"`history` {source} holds no numeric series")
    return series


def _is_lr(key):
    return key in _LR_KEYS or key.endswith("learning_rate") or key.endswith("/lr")


def _is_accuracy(key):
    base = key[4:] if key.startswith("val_") else key
    return base.startswith("knn") or "acc" in base or "top1" in base or "top5" in base


def _panels(series):
    """Groups series into panels: loss, each other objective part, accuracies, learning rate."""
    keys = [k for k in series if k != "epoch"]
    bases = []
    for key in keys:
        base = key[4:] if key.startswith("val_") and key[4:] in series else key
        if base not in bases:
            bases.append(base)
    panels = {}
    for base in bases:
        members = [k for k in (base, f"val_{base}") if k in series]
        if _is_lr(base):
            panels.setdefault("learning rate", []).extend(members)
        elif _is_accuracy(base):
            panels.setdefault("accuracy (kNN / probe)", []).extend(members)
        else:
            panels[base] = members
    order = sorted(panels, key=lambda p: (p != "loss", p in ("accuracy (kNN / probe)", "learning rate"), p))
    return [(name, panels[name]) for name in order][:_MAX_PANELS]


def _save(figure, path):
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"`path` must end with .png; got {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png")
    return path


def _log_axis(length, epochs, steps_per_row, steps_per_epoch):
    """(x of each logged row, axis label): epochs (from 2 epochs on) or steps where the rows'
    step count is known, else the log's own row numbers."""
    if steps_per_row:
        steps = (np.arange(length, dtype=float) + 1) * steps_per_row
        if epochs is not None:  # the rows' own fit-epoch numbers (a resumed log may skip none)
            steps = (np.asarray(epochs, dtype=float) + 1) * steps_per_row
        if steps_per_epoch and steps[-1] >= 2 * steps_per_epoch:
            return steps / steps_per_epoch, "epoch"
        return steps, "step"
    x = np.asarray(epochs if epochs is not None else np.arange(1, length + 1), dtype=float)
    if epochs is not None and np.nanmin(x) == 0:
        x = x + 1  # Keras counts epochs from 0
    return x, "epoch"


def plot_training_curves(history, path, title=None, xlabel=None, *, steps_per_row=None,
                         steps_per_epoch=None, final_knn=None):
    """Writes a PNG grid of training curves and returns `path`.

    One panel for the loss, one per other logged quantity (the objective's parts), one for
    accuracies (kNN monitor, online probe) and one for the learning rate (log scale); `val_`
    series are drawn dashed beside their training series. Non-finite points are left out.

    `steps_per_row`: optimizer steps between logged rows (the run's checkpoint interval): the
    x axis is then steps, or epochs once the run spans two (`steps_per_epoch`), at the logging
    resolution. `final_knn`: the final kNN top-1 of the run (a fraction), drawn as a star at the
    end of the accuracy panel. `xlabel` overrides the axis label.
    """
    from matplotlib.ticker import MaxNLocator

    series = load_history(history)
    length = max(len(v) for v in series.values())
    x_all, unit = _log_axis(length, series.get("epoch"), steps_per_row, steps_per_epoch)
    panels = _panels(series)
    if final_knn is not None and not any(n == "accuracy (kNN / probe)" for n, _ in panels):
        panels.append(("accuracy (kNN / probe)", []))
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.3 * rows), dpi=100, layout="constrained")
    for index, (name, members) in enumerate(panels):
        axis = figure.add_subplot(rows, columns, index + 1)
        for key in members:
            y = np.asarray(series[key], dtype=float)
            finite = np.isfinite(y)
            style = "--" if key.startswith("val_") else "-"
            marker = "o" if finite.sum() < 0.5 * len(y) or finite.sum() <= 20 else None
            axis.plot(x_all[finite], y[finite], style, marker=marker, markersize=3, label=key)
        if name == "accuracy (kNN / probe)" and final_knn is not None:
            axis.plot([x_all[-1]], [float(final_knn)], "*", markersize=12, color="C3",
                      label=f"final kNN {100 * float(final_knn):.1f}%")
        if name == "learning rate" and all(
            np.nanmin(np.asarray(series[k], dtype=float)) > 0 for k in members
        ):
            axis.set_yscale("log")
        axis.set_title(name)
        axis.set_xlabel(xlabel or unit)
        if x_all[-1] - x_all[0] >= 2:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if len(members) > 1 or name in ("accuracy (kNN / probe)", "learning rate"):
            axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_knn_curve(points, path, title=None):
    """Writes kNN top-1 against epochs (`points`: [{"epoch", "knn_top1"}, ...]) as a PNG."""
    epochs = [p["epoch"] for p in points]
    accuracy = [100.0 * p["knn_top1"] for p in points]
    figure = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    axis = figure.add_subplot(1, 1, 1)
    axis.plot(epochs, accuracy, "o-", markersize=3)
    axis.set_xlabel("epoch")
    axis.set_ylabel("kNN top-1 (%)")
    axis.grid(alpha=0.3)
    if title:
        axis.set_title(title, fontsize=8, wrap=True)
    return _save(figure, path)


def plot_embedding(
    features,
    labels,
    path,
    method="pca",
    class_names=None,
    max_points=None,
    seed=0,
    title=None,
    perplexity=30.0,
    tsne_iterations=1000,
):
    """Writes a PNG scatter of a 2-D map of `features [N, F]` coloured by `labels [N]`; returns `path`.

    Args:
      method: "pca" (axes show the explained variance) or "tsne" (exact, `projection.tsne`).
      class_names: optional names for label ids (legend shown for up to 20 classes).
      max_points: a random subset of this many points (by `seed`) is drawn if N is larger;
        default 2000 for PCA and 1000 for t-SNE (exact, O(N^2) per step: ~10-30 s at 1000).
    """
    features = check_features(features, "features")
    labels = check_labels(labels, "labels", features.shape[0])
    if method not in ("pca", "tsne"):
        raise ValueError(f"`method` must be 'pca' or 'tsne'; got {method!r}")
    if max_points is None:
        max_points = 2000 if method == "pca" else 1000
    if features.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(features.shape[0], max_points, replace=False))
        features, labels = features[keep], labels[keep]
    if features.shape[0] < 3:
        raise ValueError(f"`features` needs at least 3 points for a 2-D map; got {features.shape[0]}")
    if method == "pca":
        if features.shape[1] < 2:
            raise ValueError(f"`features` needs at least 2 dimensions for PCA; got {features.shape[1]}")
        points, ratio, _, _ = pca(features, 2)
        axis_labels = [f"PC{i + 1} ({100 * r:.1f}% of variance)" for i, r in enumerate(ratio)]
    else:
        points = tsne(features, 2, perplexity=min(perplexity, (features.shape[0] - 1) / 3), iterations=tsne_iterations)
        axis_labels = ["t-SNE 1", "t-SNE 2"]
    classes = np.unique(labels)
    if class_names is not None and len(class_names) <= classes.max():
        raise ValueError(f"`class_names` has {len(class_names)} names but labels go up to {int(classes.max())}")
    figure = Figure(figsize=(6.4, 5.6), dpi=100, layout="constrained")
    axis = figure.add_subplot(1, 1, 1)
    colours = _class_colours(len(classes))
    for colour, cls in zip(colours, classes):
        members = labels == cls
        name = class_names[cls] if class_names is not None else str(int(cls))
        axis.scatter(points[members, 0], points[members, 1], s=8, color=colour, alpha=0.75, label=name, linewidths=0)
    axis.set_aspect("equal", adjustable="datalim")  # distances in the map read the same both ways
    axis.set_xlabel(axis_labels[0])
    axis.set_ylabel(axis_labels[1])
    axis.set_title(title or f"{method.upper() if method == 'pca' else 't-SNE'} of {features.shape[1]}-d features, {features.shape[0]} points")
    if len(classes) <= 20:
        axis.legend(fontsize=7, markerscale=2, loc="best", ncol=2 if len(classes) > 10 else 1)
    return _save(figure, path)


def _class_colours(count):
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return [colormaps["turbo"](i / max(count - 1, 1)) for i in range(count)]
