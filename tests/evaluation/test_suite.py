"""evaluate_encoder: one JSON report in which every number carries its protocol."""

import json

import numpy as np
import pytest

from sslhsic_tf.evaluation import evaluate_encoder, extract_features, knn_evaluate


def test_report_carries_protocols_and_is_json(tmp_path, encoder_factory, colour_data):
    encoder = encoder_factory()
    train, test = colour_data(48, seed=0, hidden=False), colour_data(16, seed=1, hidden=False)
    path = tmp_path / "report.json"
    report = evaluate_encoder(
        encoder, train, test,
        protocols=("knn", "linear_lbfgs", "linear_sgd", "semi_supervised"),
        test_transform=None,
        knn={"ks": (5, 10), "temperature": 0.1},
        linear_lbfgs={"l2": 0.01},
        linear_sgd={"epochs": 1, "batch_size": 16, "train_transform": None, "test_transform": None},
        semi_supervised={"fractions": (0.5,), "seed": 2, "l2": 0.01, "save_dir": str(tmp_path / "subsets")},
        feature_cache_dir=str(tmp_path / "features"),
        data_name="toy brightness",
        results_path=str(path),
    )
    assert json.loads(path.read_text()) == report
    assert report["format"] == "sslhsic_tf.evaluation/1"
    assert report["data"] == {
        "name": "toy brightness", "test_transform": "identity", "num_train": 48, "num_test": 16,
        "feature_dim": 8, "num_classes": 2,
    }
    assert report["encoder"]["num_parameters"] == sum(int(np.prod(w.shape)) for w in encoder.weights)
    protocols = [r["protocol"] for r in report["results"]]
    assert protocols == ["knn", "knn", "linear_lbfgs", "linear_sgd", "semi_supervised/linear_lbfgs"]
    knn5 = report["results"][0]
    assert knn5["k"] == 5 and knn5["temperature"] == 0.1
    train_f, train_l = extract_features(encoder, train)
    test_f, test_l = extract_features(encoder, test)
    assert knn5["top1"] == knn_evaluate(train_f, train_l, test_f, test_l, ks=(5,), temperature=0.1)[0]["top1"]
    assert report["results"][2]["l2"] == 0.01 and report["results"][3]["epochs"] == 1
    semi = report["results"][4]
    assert semi["subset"]["fraction"] == 0.5 and semi["subset"]["seed"] == 2 and semi["num_train"] == 24
    assert (tmp_path / "subsets" / "subset_fraction0.5_seed2.json").exists()
    assert (tmp_path / "features" / "train_features.npz").exists()
    assert all(record.get("top1") is not None for record in report["results"])


BAD_KWARGS = [
    (dict(protocols=("knn", "svm")), ValueError, "protocols"),
    (dict(protocols=()), ValueError, "protocols"),
    (dict(knn={"k": 5}), ValueError, r"`knn` options \['k'\]"),
    (dict(linear_lbfgs=[("l2", 1)]), TypeError, "linear_lbfgs"),
    (dict(semi_supervised={"protocol": "finetune", "l2": 0.1}), ValueError, r"`finetune` options \['l2'\]"),
]


def test_bad_options(encoder_factory, colour_data):
    for kwargs, error, match in BAD_KWARGS:
        with pytest.raises(error, match=match):
            evaluate_encoder(encoder_factory(), colour_data(8), colour_data(4, seed=1), test_transform=None, **kwargs)
