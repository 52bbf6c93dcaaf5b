"""Input validation shared by the evaluation protocols (errors name the argument)."""

import numbers

import numpy as np


def check_features(features, name, dtype=np.float32):
    """Returns `features` as a finite 2-D NumPy array `[N, F]` of `dtype`; raises otherwise."""
    try:
        array = np.asarray(features)
    except Exception as err:  # e.g. a ragged list
        raise TypeError(f"`{name}` must be an array of shape [N, F]; got {type(features).__name__}") from err
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise TypeError(f"`{name}` must be a numeric array of shape [N, F]; got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"`{name}` must have shape [N, F]; got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}); need at least one example")
    if array.shape[1] == 0:
        raise ValueError(f"`{name}` has no feature dimensions (shape {array.shape})")
    array = array.astype(dtype, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array).all(axis=1)))
        raise ValueError(f"`{name}` contains NaN or infinite values (in {bad} of {array.shape[0]} rows)")
    return array


def check_labels(labels, name, num_examples=None, examples_name="features", num_classes=None):
    """Returns `labels` as a 1-D int64 array; checks length and range `[0, num_classes)`."""
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be a vector of integer class ids [N]; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; need at least one example")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise TypeError(f"`{name}` must hold integer class ids; got non-integer values ({array.dtype})")
    elif not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integer class ids; got dtype {array.dtype}")
    array = array.astype(np.int64)
    if num_examples is not None and array.shape[0] != num_examples:
        raise ValueError(
            f"`{name}` has {array.shape[0]} entries but `{examples_name}` has {num_examples} rows; "
            "they must match"
        )
    if array.min() < 0:
        raise ValueError(f"`{name}` must be >= 0; got minimum {int(array.min())}")
    if num_classes is not None and array.max() >= num_classes:
        raise ValueError(
            f"`{name}` must be < num_classes={num_classes}; got maximum {int(array.max())}"
        )
    return array


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value}")
    return int(value)


def check_positive_float(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a finite number {bound}; got {value}")
    return value


def resolve_num_classes(num_classes, **labels):
    """`num_classes` if given (checked against every named label vector), else `max(label) + 1`.

    Called as `resolve_num_classes(num_classes, train_labels=..., test_labels=...)`.
    """
    observed = {name: int(np.max(values)) for name, values in labels.items()}
    if num_classes is None:
        return max(observed.values()) + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    for name, top in observed.items():
        if top >= num_classes:
            raise ValueError(f"`{name}` go up to {top} but `num_classes` is {num_classes}; labels must be < num_classes")
    return num_classes
