"""Training-curve and embedding plots: valid PNGs of a sensible size from every log format."""

import csv
import json
import struct

import keras
import numpy as np
import pytest
from matplotlib import image as mpimg

from sslhsic_tf.training.plots import _panels, load_history, plot_embedding, plot_training_curves


def _check_png(path, min_size=(400, 300), max_size=(2000, 1600)):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1], (width, height)
    pixels = mpimg.imread(path)
    assert pixels.shape[:2] == (height, width) and pixels[..., :3].std() > 0.02  # not blank
    return width, height


HISTORY = {
    "loss": [1.0, 0.7, 0.5, 0.42, 0.4],
    "val_loss": [1.1, 0.8, 0.6, 0.55, 0.5],
    "hsic_zy": [0.01, 0.02, 0.03, 0.035, 0.04],
    "hsic_zz": [0.3, 0.25, 0.22, 0.2, 0.2],
    "learning_rate": [0.1, 0.4, 0.3, 0.2, 0.05],
    "knn_top1": [None, 0.3, None, 0.45, None],
}


def test_curves_from_dict_history_and_log_files(tmp_path):
    _check_png(plot_training_curves(HISTORY, str(tmp_path / "dict.png"), title="toy"))
    assert _panels(load_history(HISTORY)) == [
        ("loss", ["loss", "val_loss"]),
        ("hsic_zy", ["hsic_zy"]),
        ("hsic_zz", ["hsic_zz"]),
        ("accuracy (kNN / probe)", ["knn_top1"]),
        ("learning rate", ["learning_rate"]),
    ]

    history = keras.callbacks.History()
    history.history = {k: v for k, v in HISTORY.items() if k != "knn_top1"}
    history.epoch = list(range(5))
    assert load_history(history)["epoch"] == [0, 1, 2, 3, 4]
    _check_png(plot_training_curves(history, tmp_path / "history.png"))

    rows = [{"epoch": i, **{k: v[i] for k, v in HISTORY.items()}} for i in range(5)]
    with open(tmp_path / "log.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "log.json").write_text(json.dumps(HISTORY))
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    for name in ("log.csv", "log.json", "log.jsonl"):
        series = load_history(str(tmp_path / name))
        assert series["loss"] == HISTORY["loss"] and series["hsic_zz"] == HISTORY["hsic_zz"], name
        assert np.isnan(series["knn_top1"][0]) and series["knn_top1"][1] == 0.3, name
    _check_png(plot_training_curves(str(tmp_path / "log.csv"), str(tmp_path / "csv.png")))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_map(tmp_path, method):
    rng = np.random.default_rng(0)
    labels = np.arange(150) % 3
    features = rng.normal(size=(3, 12))[labels] * 3 + rng.normal(size=(150, 12))
    path = plot_embedding(
        features, labels, str(tmp_path / f"{method}.png"), method=method,
        class_names=["cat", "dog", "ship"], max_points=120, tsne_iterations=300,
    )
    _check_png(path)


BAD_CALL = [
    (lambda p: plot_training_curves({"loss": [1, 2], "lr": [1]}, p), ValueError, "different lengths"),
    (lambda p: plot_training_curves({"note": ["a", "b"]}, p), ValueError, "no numeric series"),
    (lambda p: plot_training_curves(HISTORY, p.replace(".png", ".jpg")), ValueError, "path.*png"),
    (lambda p: plot_training_curves("missing.csv", p), ValueError, "does not exist"),
    (lambda p: plot_training_curves(42, p), TypeError, "history"),
    (lambda p: plot_embedding(np.zeros((5, 3)), np.zeros(4, int), p), ValueError, "labels"),
    (lambda p: plot_embedding(np.zeros((5, 3)), np.zeros(5, int), p, method="umap"), ValueError, "method"),
    (lambda p: plot_embedding(np.ones((5, 3)), [0, 1, 2, 0, 1], p, class_names=["a"]), ValueError, "class_names"),
]


def test_bad_input(tmp_path):
    for call, error, match in BAD_CALL:
        with pytest.raises(error, match=match):
            call(str(tmp_path / "x.png"))


def test_training_curves_against_steps_or_epochs(tmp_path):
    """A run's log has one row per checkpoint interval: the x axis is steps for a short run,
    epochs from two epochs on, at the logging resolution (a resumed log's fit-epoch numbers)."""
    from sslhsic_tf.training.plots import _log_axis

    x, unit = _log_axis(3, [0, 1, 2], steps_per_row=65, steps_per_epoch=196)
    assert unit == "step" and list(x) == [65, 130, 195]
    x, unit = _log_axis(4, [0, 1, 2, 3], steps_per_row=196, steps_per_epoch=196)
    assert unit == "epoch" and list(x) == [1, 2, 3, 4]
    x, unit = _log_axis(2, None, steps_per_row=98, steps_per_epoch=196)
    assert unit == "step" and list(x) == [98, 196]
    log = tmp_path / "train_log.csv"
    log.write_text("epoch,knn_top1,learning_rate,loss\n" + "".join(
        f"{e},{'0.4' if e % 2 else 'NA'},{0.1 * (1 - e / 10)},{5 - 0.1 * e}\n" for e in range(10)))
    _check_png(plot_training_curves(str(log), tmp_path / "curves.png", steps_per_row=98,
                                    steps_per_epoch=196, final_knn=0.45))
