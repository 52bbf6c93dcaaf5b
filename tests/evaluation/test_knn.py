"""Weighted k-NN against a per-query NumPy reference, hand-made cases and bad input."""

import numpy as np
import pytest

from sslhsic_tf.evaluation import correct_at_k, knn_evaluate, knn_scores, topk_accuracies


def reference_knn(train, train_labels, queries, k, temperature, num_classes):
    """One query at a time: explicit cosine, full argsort, dictionary of votes."""
    out = np.zeros((len(queries), num_classes))
    for row, q in enumerate(queries):
        sims = [
            float(np.dot(q, t) / (np.linalg.norm(q) * np.linalg.norm(t))) for t in train
        ]
        order = sorted(range(len(train)), key=lambda j: -sims[j])[:k]
        votes = {}
        for j in order:
            votes[train_labels[j]] = votes.get(train_labels[j], 0.0) + np.exp(sims[j] / temperature)
        for cls, vote in votes.items():
            out[row, cls] = vote
    return out


def test_scores_match_reference_with_chunking():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(37, 5)) * rng.uniform(0.5, 3.0, (37, 1))  # norms differ: cosine matters
    labels = rng.integers(0, 4, 37)
    queries = rng.normal(size=(11, 5))
    got = knn_scores(train, labels, queries, ks=(3, 10), temperature=0.1, query_chunk_size=4, train_chunk_size=7)
    whole = knn_scores(train, labels, queries, ks=(3, 10), temperature=0.1)
    for k in (3, 10):
        want = reference_knn(train, labels, queries, k, 0.1, 4)
        np.testing.assert_allclose(got[k], want, rtol=2e-5)
        np.testing.assert_allclose(whole[k], want, rtol=2e-5)


def test_hand_made_votes_and_accuracy():
    # Train points on the unit circle at angles 0, 10, 90 and 180 degrees.
    angles = np.deg2rad([0.0, 10.0, 90.0, 180.0])
    train = np.stack([np.cos(angles), np.sin(angles)], 1)
    labels = np.array([0, 1, 1, 2])
    query = np.array([[2.0, 0.0]])  # angle 0, norm 2 (normalised away)
    scores = knn_scores(train, labels, query, ks=(1, 2, 3), temperature=0.5)
    np.testing.assert_allclose(scores[1], [[np.exp(2.0), 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(scores[2], [[np.exp(2.0), np.exp(np.cos(np.deg2rad(10)) / 0.5), 0]], rtol=1e-6)
    np.testing.assert_allclose(
        scores[3], [[np.exp(2.0), np.exp(np.cos(np.deg2rad(10)) / 0.5) + np.exp(0.0), 0]], rtol=1e-6
    )
    # Two class-1 neighbours outvote one closer class-0 neighbour only when T is large.
    (record,) = knn_evaluate(train, labels, query, [1], ks=(3,), temperature=10.0)
    assert record["top1"] == 1.0 and record["k"] == 3 and record["temperature"] == 10.0
    (record,) = knn_evaluate(train, labels, query, [1], ks=(3,), temperature=0.05)
    assert record["top1"] == 0.0


def test_records_carry_protocol_and_top5():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(8, 16)) * 1.5
    labels = np.repeat(np.arange(8), 10)
    train = centres[labels] + rng.normal(size=(80, 16))
    test_labels = np.arange(8).repeat(3)
    test = centres[test_labels] + rng.normal(size=(24, 16))
    records = knn_evaluate(train, labels, test, test_labels, ks=(20, 50), temperature=0.07)
    assert [r["k"] for r in records] == [20, 50]
    for record in records:
        assert record["protocol"] == "knn" and record["similarity"] == "cosine"
        assert record["num_train"] == 80 and record["num_test"] == 24
        want = reference_knn(train, labels, test, record["k"], 0.07, 8)
        order = np.argsort(-want, axis=1, kind="stable")
        assert record["top1"] == pytest.approx(np.mean(order[:, 0] == test_labels))
        assert record["top5"] == pytest.approx(np.mean((order[:, :5] == test_labels[:, None]).any(1)))
        assert record["top5"] >= record["top1"]


def test_top_k_ties_go_to_the_lower_class():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(correct_at_k(scores, [1, 1, 0], 1), [False, True, True])
    np.testing.assert_array_equal(correct_at_k(scores, [1, 2, 2], 2), [True, True, False])
    assert topk_accuracies(scores, [0, 0, 0]) == {"top1": pytest.approx(2 / 3), "top5": None}


BAD_KWARGS = [
    (dict(train_labels=np.zeros(9, int)), ValueError, "train_labels.*10 entries|9 entries"),
    (dict(ks=(11,)), ValueError, "k=11.*only 10 rows"),
    (dict(ks=(0,)), ValueError, "ks"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(test_labels=np.array([0, 5, 1])), ValueError, "test_labels"),
    (dict(train_labels=np.array([0, 1] * 4 + [-1, 0])), ValueError, "train_labels.*>= 0"),
    (dict(train_features=np.full((10, 4), np.nan)), ValueError, "train_features.*NaN"),
    (dict(test_features=np.zeros((0, 4))), ValueError, "test_features.*empty"),
    (dict(test_features=np.zeros((3, 5))), ValueError, "5 dimensions"),
    (dict(train_labels=np.linspace(0, 1, 10)), TypeError, "train_labels.*integer"),
]


def test_bad_input():
    for kwargs, error, match in BAD_KWARGS:
        rng = np.random.default_rng(0)
        args = dict(
            train_features=rng.normal(size=(10, 4)),
            train_labels=np.array([0, 1] * 5),
            test_features=rng.normal(size=(3, 4)),
            test_labels=np.array([0, 1, 1]),
            ks=(3,),
            num_classes=None,
        )
        args.update(kwargs)
        if "test_labels" in kwargs and kwargs["test_labels"].max() == 5:
            args["num_classes"] = 2
        with pytest.raises(error, match=match):
            knn_evaluate(**args)
