"""TrainLog (train_log.csv): columns stable across rows and resumes, a value logged only every
few intervals kept, a column added to a file written without it; the loop's kNN curve reads it."""

import csv

from sslhsic_tf.training import callbacks as cb
from sslhsic_tf.training import loop


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def _write(path, epochs_logs, extra_keys=("knn_top1",)):
    log = cb.TrainLog(str(path), extra_keys=extra_keys)
    log.on_train_begin()
    for epoch, logs in epochs_logs:
        log.on_epoch_end(epoch, logs)
    log.on_train_end()


def test_sparse_column_and_resume(tmp_path):
    path = tmp_path / "train_log.csv"
    _write(path, [(0, {"loss": 1.0}), (1, {"loss": 0.5, "knn_top1": 0.4})])
    # A resumed process whose first row has the kNN value, then one without.
    _write(path, [(2, {"knn_top1": 0.45, "loss": 0.25}), (3, {"loss": 0.125})])
    header, rows = _rows(path)
    assert header == ["epoch", "knn_top1", "loss"]
    assert [(r["epoch"], r["knn_top1"], r["loss"]) for r in rows] == [
        ("0", "NA", "1.0"), ("1", "0.4", "0.5"), ("2", "0.45", "0.25"), ("3", "NA", "0.125")]
    curve = loop._knn_curve(str(path), interval=10, per_epoch=20)
    assert curve == [{"step": 20, "epoch": 1.0, "knn_top1": 0.4},
                     {"step": 30, "epoch": 1.5, "knn_top1": 0.45}]


def test_a_new_key_adds_a_column_to_an_old_file(tmp_path):
    path = tmp_path / "train_log.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,NA\n1,0.5,NA\n")  # Keras' CSVLogger, no kNN
    _write(path, [(2, {"loss": 0.25}), (3, {"loss": 0.125, "knn_top1": 0.5, "probe": 0.1})],
           extra_keys=())
    header, rows = _rows(path)
    assert header == ["epoch", "loss", "val_loss", "knn_top1", "probe"]
    assert [(r["epoch"], r["loss"], r["knn_top1"], r["probe"]) for r in rows] == [
        ("0", "1.0", "NA", "NA"), ("1", "0.5", "NA", "NA"), ("2", "0.25", "NA", "NA"),
        ("3", "0.125", "0.5", "0.1")]
    assert not list(tmp_path.glob("*.tmp-*"))
