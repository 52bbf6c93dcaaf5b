"""Semi-supervised evaluation on class-balanced label subsets chosen by a seed.

`class_balanced_subset` takes the same share of every class (a `fraction` of each class,
rounded to the nearest integer, or an exact `count_per_class`), drawn with
`numpy.random.default_rng(seed)`; the indices are saved with the results so the exact subset
can be reused (`save_subset` / `load_subset`). The 1% and 10% ImageNet subsets of the
literature are fixed image lists; pass those as `indices` instead of a fraction.
"""

import json
import os

import numpy as np

from sslhsic_tf.evaluation._checks import check_labels, check_positive_int, resolve_num_classes
from sslhsic_tf.evaluation.features import extract_features
from sslhsic_tf.evaluation.finetune import finetune_evaluate
from sslhsic_tf.evaluation.inputs import collect_labels, take_subset
from sslhsic_tf.evaluation.linear_lbfgs import linear_lbfgs_evaluate
from sslhsic_tf.evaluation.linear_sgd import linear_sgd_evaluate
from sslhsic_tf.evaluation.transforms import resolve_for_data

SUBSET_FORMAT = "sslhsic_tf.label_subset/1"
PROTOCOLS = ("finetune", "linear_lbfgs", "linear_sgd")


def class_balanced_subset(labels, fraction=None, count_per_class=None, seed=0):
    """Sorted int64 indices of a class-balanced subset of `labels`.

    Args:
      labels: `[N]` int class ids.
      fraction: in (0, 1]: round(fraction * n_c) examples of each class c (half rounds up).
      count_per_class: exactly this many of each class (instead of `fraction`).
      seed: int seed of the draw.

    Raises:
      ValueError: if neither or both of `fraction`/`count_per_class` are given, or some class
        would get zero examples, or has fewer than `count_per_class`.
    """
    labels = check_labels(labels, "labels")
    if (fraction is None) == (count_per_class is None):
        raise ValueError("pass exactly one of `fraction` and `count_per_class`")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
            raise TypeError(f"`fraction` must be a number in (0, 1]; got {fraction!r}")
        if not 0 < fraction <= 1:
            raise ValueError(f"`fraction` must be in (0, 1]; got {fraction}")
    else:
        count_per_class = check_positive_int(count_per_class, "count_per_class")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int; got {seed!r}")
    rng = np.random.default_rng(int(seed))
    classes, counts = np.unique(labels, return_counts=True)
    chosen = []
    for cls, count in zip(classes, counts):
        take = int(np.floor(fraction * count + 0.5)) if fraction is not None else count_per_class
        if take == 0:
            raise ValueError(
                f"`fraction`={fraction} gives 0 examples of class {int(cls)} ({int(count)} available); "
                "raise it or use `count_per_class`"
            )
        if take > count:
            raise ValueError(
                f"`count_per_class`={count_per_class} but class {int(cls)} has only {int(count)} examples"
            )
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def subset_description(labels, indices, fraction=None, count_per_class=None, seed=None):
    """JSON-ready description of a subset: sizes, per-class counts and the indices themselves."""
    labels = check_labels(labels, "labels")
    indices = np.asarray(indices, dtype=np.int64)
    classes, counts = np.unique(labels[indices], return_counts=True)
    return {
        "fraction": None if fraction is None else float(fraction),
        "count_per_class": None if count_per_class is None else int(count_per_class),
        "seed": None if seed is None else int(seed),
        "num_examples": int(indices.size),
        "num_available": int(labels.size),
        "per_class": {str(int(c)): int(n) for c, n in zip(classes, counts)},
        "indices": [int(i) for i in indices],
    }


def save_subset(path, description, results=None):
    """Writes `{"format", "subset": description, "results": results}` as JSON to `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump({"format": SUBSET_FORMAT, "subset": description, "results": results}, handle, indent=1)
    os.replace(tmp, path)


def load_subset(path):
    """Returns `(indices int64 [n], description)` from a file written by `save_subset`."""
    with open(path) as handle:
        content = json.load(handle)
    if content.get("format") != SUBSET_FORMAT or "subset" not in content:
        raise ValueError(f"`path` {path} is not a label-subset file (format {content.get('format')!r})")
    description = content["subset"]
    return np.asarray(description["indices"], dtype=np.int64), description


def semi_supervised_evaluate(
    encoder,
    train_data,
    test_data,
    fraction=None,
    count_per_class=None,
    seed=0,
    indices=None,
    protocol="finetune",
    num_classes=None,
    batch_size=256,
    save_path=None,
    features=None,
    **protocol_kwargs,
):
    """Runs `protocol` on a class-balanced labelled subset of `train_data`; tests on `test_data`.

    Args:
      encoder: `keras.Model`, images -> `[B, F]`.
      train_data, test_data: `(images, labels)` arrays or finite datasets in a fixed order
        (subset indices are positions in that order).
      fraction, count_per_class, seed: the subset (see `class_balanced_subset`).
      indices: a given subset instead (e.g. from `load_subset`); fraction/count are then unused.
      protocol: "finetune", "linear_lbfgs" or "linear_sgd".
      num_classes: C; default from all train and test labels (so a subset missing nothing
        still has the full label space).
      batch_size: batch size for arrays / per-example datasets.
      save_path: if given, the JSON file (subset + result) written here.
      features: for "linear_lbfgs", precomputed `(train_features, train_labels, test_features,
        test_labels)` of the FULL train set (indexed here), to skip extraction; otherwise the
        extraction transform is `transform` ("default": the test transform of `eval_config`).
      **protocol_kwargs: passed to the protocol function.

    Returns:
      The protocol's record with `"protocol"` prefixed `semi_supervised/` and a `"subset"` entry.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}; got {protocol!r}")
    if protocol_kwargs.get("return_model"):
        raise ValueError("`return_model` is not supported here: the result must stay JSON-serialisable")

    if features is not None:
        train_features, all_labels, test_features, test_labels = features
        all_labels = check_labels(all_labels, "features[1]")
    else:
        all_labels = collect_labels(train_data, "train_data", batch_size)
        test_labels = collect_labels(test_data, "test_data", batch_size)
    num_classes = resolve_num_classes(num_classes, train_labels=all_labels, test_labels=test_labels)
    if indices is None:
        indices = class_balanced_subset(all_labels, fraction, count_per_class, seed)
    else:
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if indices.size == 0 or indices.min() < 0 or indices.max() >= all_labels.size:
            raise ValueError(f"`indices` must be non-empty positions in [0, {all_labels.size})")
        fraction = count_per_class = seed = None  # a given subset: record no draw it did not come from
    description = subset_description(all_labels, indices, fraction, count_per_class, seed)

    if protocol == "linear_lbfgs":
        transform = protocol_kwargs.pop("transform", "default")
        eval_config = protocol_kwargs.pop("eval_config", "auto")
        if features is None:
            _, test_transform = resolve_for_data(None, transform, eval_config, train_data, batch_size)
            train_features, _ = extract_features(encoder, train_data, batch_size, test_transform, name="train_data")
            test_features, test_labels = extract_features(encoder, test_data, batch_size, test_transform, name="test_data")
        train_features = np.asarray(train_features)
        if train_features.shape[0] != all_labels.size:
            raise ValueError(
                f"`features` train part has {train_features.shape[0]} rows but {all_labels.size} labels"
            )
        record = linear_lbfgs_evaluate(
            train_features[indices], all_labels[indices], test_features, test_labels,
            num_classes=num_classes, **protocol_kwargs,
        )
    else:
        subset = take_subset(train_data, "train_data", indices, batch_size)
        run = finetune_evaluate if protocol == "finetune" else linear_sgd_evaluate
        record = run(encoder, subset, test_data, num_classes=num_classes, batch_size=batch_size, **protocol_kwargs)
    record = {**record, "protocol": f"semi_supervised/{protocol}", "subset": description}
    if save_path is not None:
        save_subset(save_path, description, {k: v for k, v in record.items() if k != "subset"})
    return record
