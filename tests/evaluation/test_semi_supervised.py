"""Class-balanced label subsets: balance, reproducibility, JSON round trip, errors, runs on them."""

import numpy as np
import pytest
import tensorflow as tf

from sslhsic_tf.evaluation import (
    class_balanced_subset,
    extract_features,
    linear_lbfgs_evaluate,
    load_subset,
    semi_supervised_evaluate,
)
from sslhsic_tf.evaluation.inputs import take_subset


def test_fraction_and_count_are_per_class_and_seeded():
    labels = np.array([0] * 200 + [1] * 100 + [2] * 50)
    subset = class_balanced_subset(labels, fraction=0.1, seed=0)
    assert np.bincount(labels[subset]).tolist() == [20, 10, 5]
    assert np.all(np.diff(subset) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(subset, class_balanced_subset(labels, fraction=0.1, seed=0))
    assert not np.array_equal(subset, class_balanced_subset(labels, fraction=0.1, seed=1))
    counted = class_balanced_subset(labels, count_per_class=7, seed=3)
    assert np.bincount(labels[counted]).tolist() == [7, 7, 7]
    # Rounding to nearest: 1% of 250 = 2.5 -> 3, 1% of 149 = 1.49 -> 1.
    two = np.array([0] * 250 + [1] * 149)
    assert np.bincount(two[class_balanced_subset(two, fraction=0.01)]).tolist() == [3, 1]
    assert class_balanced_subset(labels, fraction=1.0).size == 350


BAD_KWARGS = [
    (dict(fraction=0.009), ValueError, "0 examples of class 2"),
    (dict(count_per_class=51), ValueError, "class 2 has only 50"),
    (dict(fraction=0.0), ValueError, "fraction"),
    (dict(fraction=1.5), ValueError, "fraction"),
    (dict(fraction=0.1, count_per_class=3), ValueError, "exactly one"),
    (dict(), ValueError, "exactly one"),
    (dict(fraction="10%"), TypeError, "fraction"),
    (dict(count_per_class=0), ValueError, "count_per_class"),
    (dict(fraction=0.5, seed=1.5), TypeError, "seed"),
]


def test_bad_subsets():
    for kwargs, error, match in BAD_KWARGS:
        labels = np.array([0] * 200 + [1] * 100 + [2] * 50)
        with pytest.raises(error, match=match):
            class_balanced_subset(labels, **kwargs)


def test_lbfgs_on_subset_saves_indices_and_matches_a_direct_run(tmp_path, encoder_factory, colour_data):
    encoder = encoder_factory()
    train, test = colour_data(60, seed=0, hidden=False), colour_data(20, seed=1, hidden=False)
    path = str(tmp_path / "subset.json")
    record = semi_supervised_evaluate(
        encoder, train, test, fraction=0.25, seed=5, protocol="linear_lbfgs", save_path=path,
        l2=0.01, transform=None,
    )
    indices, description = load_subset(path)
    np.testing.assert_array_equal(indices, class_balanced_subset(train[1], fraction=0.25, seed=5))
    assert record["protocol"] == "semi_supervised/linear_lbfgs"
    assert record["subset"] == description and description["seed"] == 5 and description["fraction"] == 0.25
    assert description["num_examples"] == indices.size == sum(description["per_class"].values())

    train_f, train_l = extract_features(encoder, train)
    test_f, test_l = extract_features(encoder, test)
    direct = linear_lbfgs_evaluate(train_f[indices], train_l[indices], test_f, test_l, l2=0.01, num_classes=2)
    assert record["top1"] == direct["top1"] and record["num_train"] == indices.size

    again = semi_supervised_evaluate(
        encoder, train, test, indices=indices, protocol="linear_lbfgs", l2=0.01, transform=None,
        features=(train_f, train_l, test_f, test_l),
    )
    assert again["top1"] == record["top1"] and again["subset"]["indices"] == description["indices"]
    assert again["subset"]["fraction"] is None and again["subset"]["seed"] is None


def test_dataset_subset_picks_the_same_examples(colour_data):
    images, labels = colour_data(23, seed=2)
    indices = np.array([0, 4, 5, 17, 22])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(6)
    picked = list(take_subset(dataset, "train_data", indices, batch_size=2).unbatch().as_numpy_iterator())
    np.testing.assert_allclose(np.stack([p[0] for p in picked]), images[indices])
    np.testing.assert_array_equal([p[1] for p in picked], labels[indices])


def test_sgd_probe_on_a_subset_of_a_dataset(encoder_factory, colour_data):
    images, labels = colour_data(40, seed=3, hidden=False)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    record = semi_supervised_evaluate(
        encoder_factory(), dataset, colour_data(10, seed=4, hidden=False), count_per_class=4, seed=0,
        protocol="linear_sgd", batch_size=4, epochs=1, ema_decay=None, train_transform=None, test_transform=None,
    )
    assert record["protocol"] == "semi_supervised/linear_sgd" and record["num_train"] == 8
    assert record["subset"]["per_class"] == {"0": 4, "1": 4}
    with pytest.raises(ValueError, match="protocol"):
        semi_supervised_evaluate(encoder_factory(), dataset, dataset, fraction=0.5, protocol="knn")
