"""Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018).

For a query q, the k train features with the largest cosine similarity s_j vote for their
class with weight exp(s_j / T); the class scores are the summed votes. Computed in `keras.ops`
(on the accelerator when there is one) in chunks of queries and, optionally, of train features,
so memory is `O(query_chunk * (train_chunk + k + C))` whatever the data size.
"""

import numpy as np
from keras import ops

from sslhsic_tf.evaluation._checks import (
    check_features,
    check_labels,
    check_positive_float,
    check_positive_int,
    resolve_num_classes,
)
from sslhsic_tf.evaluation.features import l2_normalize
from sslhsic_tf.evaluation.metrics import topk_accuracies

DEFAULT_KS = (20, 200)
DEFAULT_TEMPERATURE = 0.07


def _check_ks(ks, num_train):
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    ks = tuple(check_positive_int(k, "ks") for k in ks)
    if not ks:
        raise ValueError("`ks` must name at least one k")
    if max(ks) > num_train:
        raise ValueError(
            f"`ks` asks for k={max(ks)} neighbours but `train_features` has only {num_train} rows"
        )
    return ks


def _nearest(queries, train, k, train_chunk_size):
    """Top-k cosine similarities and train indices for normalised `queries [Q, F]`; sorted."""
    best_sims = best_index = None
    for start in range(0, train.shape[0], train_chunk_size):
        chunk = train[start:start + train_chunk_size]
        sims = ops.matmul(queries, ops.transpose(chunk))  # [Q, n]
        sims, index = ops.top_k(sims, min(k, chunk.shape[0]), sorted=True)
        index = ops.cast(index, "int32") + start
        if best_sims is not None:
            sims = ops.concatenate([best_sims, sims], axis=1)
            index = ops.concatenate([best_index, index], axis=1)
            sims, position = ops.top_k(sims, min(k, sims.shape[1]), sorted=True)
            index = ops.take_along_axis(index, position, axis=1)
        best_sims, best_index = sims, index
    return best_sims, best_index


def knn_scores(
    train_features,
    train_labels,
    query_features,
    ks=DEFAULT_KS,
    temperature=DEFAULT_TEMPERATURE,
    num_classes=None,
    query_chunk_size=1024,
    train_chunk_size=65536,
):
    """Class scores of weighted k-NN for each k.

    Args:
      train_features: `[N, F]` memory bank (normalised here).
      train_labels: `[N]` int class ids.
      query_features: `[Q, F]` (normalised here).
      ks: one k or several; each `<= N`.
      temperature: T in exp(similarity / T).
      num_classes: C; default `max(train_labels) + 1`.
      query_chunk_size, train_chunk_size: memory bounds.

    Returns:
      `{k: float32 [Q, C]}` summed votes.
    """
    train = l2_normalize(check_features(train_features, "train_features"))
    queries = l2_normalize(check_features(query_features, "query_features"))
    if queries.shape[1] != train.shape[1]:
        raise ValueError(
            f"`query_features` has {queries.shape[1]} dimensions but `train_features` has {train.shape[1]}"
        )
    labels = check_labels(train_labels, "train_labels", train.shape[0], "train_features")
    num_classes = resolve_num_classes(num_classes, train_labels=labels)
    ks = _check_ks(ks, train.shape[0])
    temperature = check_positive_float(temperature, "temperature")
    query_chunk_size = check_positive_int(query_chunk_size, "query_chunk_size")
    train_chunk_size = check_positive_int(train_chunk_size, "train_chunk_size")

    k_max = max(ks)
    train_tensor = ops.convert_to_tensor(train)
    label_tensor = ops.convert_to_tensor(labels.astype(np.int32))
    scores = {k: [] for k in ks}
    for start in range(0, queries.shape[0], query_chunk_size):
        chunk = ops.convert_to_tensor(queries[start:start + query_chunk_size])
        rows = chunk.shape[0]
        sims, index = _nearest(chunk, train_tensor, k_max, train_chunk_size)
        weights = ops.exp(sims / temperature)  # [rows, k_max], sorted by similarity
        neighbour_labels = ops.take(label_tensor, index)  # [rows, k_max]
        row_offsets = ops.expand_dims(ops.arange(rows, dtype="int32") * num_classes, 1)
        segments = neighbour_labels + row_offsets
        for k in ks:
            votes = ops.segment_sum(
                ops.reshape(weights[:, :k], [-1]),
                ops.reshape(segments[:, :k], [-1]),
                num_segments=rows * num_classes,
            )
            scores[k].append(ops.convert_to_numpy(ops.reshape(votes, [rows, num_classes])))
    return {k: np.concatenate(parts, axis=0).astype(np.float32) for k, parts in scores.items()}


def knn_evaluate(
    train_features,
    train_labels,
    test_features,
    test_labels,
    ks=DEFAULT_KS,
    temperature=DEFAULT_TEMPERATURE,
    num_classes=None,
    query_chunk_size=1024,
    train_chunk_size=65536,
):
    """Top-1/top-5 accuracy of weighted k-NN; one JSON-ready record per k.

    Each record: `{"protocol": "knn", "k", "temperature", "similarity": "cosine",
    "num_train", "num_test", "top1", "top5"}` (`top5` is `None` when C <= 5).
    """
    test = check_features(test_features, "test_features")
    train_labels = check_labels(train_labels, "train_labels")
    test_labels = check_labels(test_labels, "test_labels", test.shape[0], "test_features")
    num_classes = resolve_num_classes(num_classes, train_labels=train_labels, test_labels=test_labels)
    scores = knn_scores(
        train_features, train_labels, test, ks, temperature, num_classes, query_chunk_size, train_chunk_size
    )
    records = []
    for k, class_scores in scores.items():
        records.append({
            "protocol": "knn",
            "k": int(k),
            "temperature": float(temperature),
            "similarity": "cosine",
            "num_train": int(train_labels.shape[0]),
            "num_test": int(test_labels.shape[0]),
            **topk_accuracies(class_scores, test_labels),
        })
    return records
