"""Top-k accuracy from class scores, with a deterministic tie rule."""

import numpy as np

from sslhsic_tf.evaluation._checks import check_labels, check_positive_int


def correct_at_k(scores, labels, k):
    """Boolean `[N]`: is `labels[i]` among the `k` best classes of `scores[i]`?

    Classes are ranked by score, descending, ties broken by the lower class index (a stable
    sort), so top-1 agrees with `argmax` and the result never depends on sort internals.

    Args:
      scores: `[N, C]` class scores (logits, probabilities or kNN votes).
      labels: `[N]` integer class ids in `[0, C)`.
      k: rank cut-off, `1 <= k`.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"`scores` must have shape [N, C]; got {scores.shape}")
    labels = check_labels(labels, "labels", scores.shape[0], "scores", num_classes=scores.shape[1])
    k = check_positive_int(k, "k")
    true = scores[np.arange(scores.shape[0]), labels][:, None]
    classes = np.arange(scores.shape[1])[None, :]
    ahead = (scores > true) | ((scores == true) & (classes < labels[:, None]))
    return ahead.sum(axis=1) < k


def topk_accuracies(scores, labels, ks=(1, 5)):
    """`{"top1": ..., "top5": ...}` as Python floats; `None` where `k >= num_classes` (trivially 1)."""
    num_classes = np.asarray(scores).shape[-1]
    return {
        f"top{k}": (float(np.mean(correct_at_k(scores, labels, k))) if k < num_classes or k == 1 else None)
        for k in ks
    }
