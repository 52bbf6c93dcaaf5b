"""The kNN monitor of a pretraining run: every `eval.knn_every_steps` steps, kNN top-1 (cosine,
k = 200, T = 0.07) lands in train_log.csv, in results.json's `knn_curve` (step, epoch) and in
knn_curve.png; its last point (taken on the final weights) matches a NumPy kNN on the final
encoder's features. The run's exported zoo entry keeps the curve, its cost and precision, and
computes in float32 whatever the run's policy (`--dtype_policy=training` keeps the run's)."""

import csv
import json

import keras
import numpy as np
import pytest

from sslhsic_tf import data, evaluation, serving
from sslhsic_tf.training import loop
from sslhsic_tf.utils import backend
from tests.helpers import tiny_pretrain_config


def _numpy_knn(train_f, train_l, test_f, test_l, k=200, temperature=0.07, classes=10):
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sim = unit(test_f) @ unit(train_f).T
    top = np.argsort(-sim, axis=1)[:, :k]
    weights = np.exp(np.take_along_axis(sim, top, axis=1) / temperature)
    scores = np.zeros((len(test_f), classes))
    for c in range(classes):
        scores[:, c] = (weights * (train_l[top] == c)).sum(1)
    return float((scores.argmax(1) == test_l).mean())


@pytest.mark.slow
def test_knn_curve_in_results_and_plot(tmp_path):
    config, arrays = tiny_pretrain_config(tmp_path, n_train=256, n_test=96)
    config.eval.knn_every_steps = 2  # every other interval: rows without knn_top1 in between
    config.eval.knn_at_start = True  # and the initial weights' point, the curve's step 0
    assert config.mixed_precision == "auto"  # the demo's: this CPU kind's fastest (test_precision)
    results = loop.pretrain(config, str(tmp_path / "run"), evaluate=False, verbose=0)
    policy, jit_compile = backend.auto_precision()
    assert results["precision"] == {"policy": policy, "jit_compile": jit_compile}
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    # The run's cost, also in every checkpoint (summed over resumes: test_preemption).
    assert results["train_cpu_seconds"] > 0 and results["train_wall_seconds"] > 0

    curve = results["knn_curve"]
    assert [p["step"] for p in curve["points"]] == [0, 2, 4]
    assert [p["epoch"] for p in curve["points"]] == [0.0, 0.25, 0.5]  # 8 steps per epoch
    assert "k=200" in curve["protocol"] and "the 96 test images" in curve["protocol"]
    with open(tmp_path / "run" / "train_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["knn_top1"] == "NA" for row in rows] == [True, False, True, False]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["knn_curve"] == curve
    assert (tmp_path / "run" / "knn_curve.png").stat().st_size > 0

    encoder = serving.load_keras(str(tmp_path / "run" / "encoder.keras"), compile=False)
    train_f, train_l = evaluation.extract_features(encoder, data.eval_dataset(
        data.from_arrays(arrays["x_train"], arrays["y_train"], num_classes=10), "cifar10"))
    test_f, test_l = evaluation.extract_features(encoder, data.eval_dataset(
        data.from_arrays(arrays["x_test"], arrays["y_test"], num_classes=10), "cifar10"))
    expected = _numpy_knn(np.asarray(train_f), np.asarray(train_l), np.asarray(test_f),
                          np.asarray(test_l))
    assert abs(curve["points"][-1]["knn_top1"] - expected) <= 1.5 / 96, (curve, expected)

    # The zoo entry of the run records its curve, cost, machine and precision.
    from sslhsic_tf import export, zoo

    (tmp_path / "zoo").mkdir()
    out = export.export_run(str(tmp_path / "run"), "tiny_run", zoo=True,
                            zoo_root=str(tmp_path / "zoo"))
    training = zoo.info("tiny_run", root=str(tmp_path / "zoo"))["training"]
    assert training == out["zoo"]["training"]
    assert training["knn_curve"] == curve and training["precision"] == results["precision"]
    assert training["cpu_hours"] == round(results["train_cpu_seconds"] / 3600, 2)
    assert training["machine"]["cores"] >= 1 and training["machine"]["cpu"]
    assert training["epochs"] == 1 and training["steps"] == 4  # 0.5 epochs: at least 1
    assert training["optimizer"] == {k: v for k, v in config.optimizer.items() if v is not None}

    # The export computes in float32 (a bf16 run's encoder is rebuilt) and gives the run's
    # features up to bf16 rounding; dtype_policy="training" keeps the run's policy.
    exported = zoo.load("tiny_run", root=str(tmp_path / "zoo"))
    meta = serving.read_export_metadata(out["path"])
    assert meta["extra"]["compute_dtypes"] == ["float32"]
    images = arrays["x_test"][:32].astype("float32") / 255.0
    run_features = np.asarray(encoder(images, training=False))
    np.testing.assert_allclose(np.asarray(exported(images, training=False)), run_features, rtol=0.05,
                               atol=0.05 * np.abs(run_features).max())
    kept = export.export_run(str(tmp_path / "run"), "as_trained", dtype_policy="training")
    compute = keras.dtype_policies.get(policy).compute_dtype
    assert set(serving.read_export_metadata(kept["path"])["extra"]["compute_dtypes"]) == {
        compute, "float32"}
    with pytest.raises(ValueError, match="--dtype_policy='float8'"):
        export.export_run(str(tmp_path / "run"), "bad", dtype_policy="float8")


def test_knn_at_start_is_the_initial_weights_knn(tmp_path):
    """The monitor's start point is the kNN of the weights before the first step (NumPy kNN on
    the initial encoder's features), measured once: a later fit() of the run keeps it."""
    import tensorflow as tf

    from sslhsic_tf import methods
    from sslhsic_tf.training import callbacks
    from tests.methods.common import TINY, random_batch, tiny_encoder

    train, test = data.demo("train"), data.demo("test")
    bank = data.from_arrays(train.images[:300], train.labels[:300], num_classes=10)
    queries = data.from_arrays(test.images[:100], test.labels[:100], num_classes=10)
    bank_ds, query_ds = data.eval_dataset(bank, "cifar10"), data.eval_dataset(queries, "cifar10")
    model = methods.create("simclr", tiny_encoder(), total_steps=4, batch_size=8, **TINY["simclr"])
    model.compile()
    initial = model.export_encoder().get_weights()
    path = tmp_path / loop.KNN_AT_START
    monitor = callbacks.KnnMonitor(bank_ds, query_ds, every=100, start_path=str(path))
    steps = tf.data.Dataset.from_tensors(random_batch(8, size=32, seed=1)).repeat(2)
    model.fit(steps, epochs=1, verbose=0, callbacks=[monitor])
    measured = json.loads(path.read_text())
    assert measured["step"] == 0

    trained = model.export_encoder().get_weights()
    assert any(np.abs(a - b).max() > 1e-6 for a, b in zip(initial, trained))  # it did train
    encoder = model.export_encoder()
    encoder.set_weights(initial)
    train_f, train_l = evaluation.extract_features(encoder, bank_ds)
    test_f, test_l = evaluation.extract_features(encoder, query_ds)
    expected = _numpy_knn(*(np.asarray(a) for a in (train_f, train_l, test_f, test_l)))
    assert abs(measured["knn_top1"] - expected) <= 1.5 / 100, (measured, expected)

    encoder.set_weights(trained)
    model.fit(steps, epochs=1, verbose=0, callbacks=[monitor])  # a resumed segment
    assert json.loads(path.read_text()) == measured
    assert [p["step"] for p in loop._knn_curve(str(tmp_path / "train_log.csv"), 1, 8)] == [0]
