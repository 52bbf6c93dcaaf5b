"""Offline linear probe: full-batch L-BFGS multinomial logistic regression on cached features.

Objective, for features x_i `[F]`, labels y_i, weights W `[F, C]`, bias b `[C]`:

    L(W, b) = (1/N) sum_i -log softmax(x_i W + b)[y_i] + (l2 / 2) ||W||_F^2   (b unregularised)

with the analytic gradient dL/dW = X^T (P - Y) / N + l2 W, dL/db = sum_i (P - Y)_i / N, where
P = softmax(XW + b) and Y one-hot. Minimised by scipy's L-BFGS-B from zero weights, so a fit is
deterministic. `l2="auto"` picks the regulariser on a class-stratified held-out split of the
train features, then refits on all of them.
"""

import dataclasses

import numpy as np
import scipy.optimize

from sslhsic_tf.evaluation._checks import (
    check_features,
    check_labels,
    check_positive_float,
    check_positive_int,
    resolve_num_classes,
)
from sslhsic_tf.evaluation.metrics import topk_accuracies

DEFAULT_L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
OBJECTIVE = "mean softmax cross-entropy + l2/2 * ||W||^2 (bias unregularised), L-BFGS-B from zeros"


@dataclasses.dataclass
class LogisticRegression:
    """A fitted linear classifier: `logits = ((x - mean) / scale) @ weights + bias`."""

    weights: np.ndarray  # [F, C]
    bias: np.ndarray  # [C]
    mean: np.ndarray  # [F] (zeros without standardisation)
    scale: np.ndarray  # [F] (ones without standardisation)
    l2: float
    iterations: int
    converged: bool
    loss: float

    def logits(self, features):
        """`[N, C]` logits for `features [N, F]`."""
        features = check_features(features, "features", np.float64)
        if features.shape[1] != self.weights.shape[0]:
            raise ValueError(
                f"`features` has {features.shape[1]} dimensions; the classifier expects {self.weights.shape[0]}"
            )
        return ((features - self.mean) / self.scale) @ self.weights + self.bias


def logistic_loss_and_grad(params, features, one_hot, l2):
    """Regularised mean cross-entropy and its gradient w.r.t. the flat `params = [W.ravel(), b]`.

    Args:
      params: `[F * C + C]`.
      features: `[N, F]`.
      one_hot: `[N, C]` one-hot labels, or `[N]` integer labels (faster: no dense products).
      l2: regularisation strength on W.
    """
    num, dim = features.shape
    weights = params[: dim * (params.shape[0] // (dim + 1))].reshape(dim, -1)
    classes = weights.shape[1]
    bias = params[dim * classes:]
    logits = features @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)  # one exp: reused for the normaliser and the softmax
    norm = probs.sum(axis=1, keepdims=True)
    probs /= norm
    if one_hot.ndim == 1:
        rows = np.arange(num)
        picked = logits[rows, one_hot]
        probs[rows, one_hot] -= 1.0
    else:
        picked = np.sum(one_hot * logits, axis=1)
        probs -= one_hot
    loss = float(np.mean(np.log(norm[:, 0]) - picked)) + 0.5 * l2 * float(np.sum(weights * weights))
    residual = probs / num  # softmax - one-hot, [N, C]
    grad_w = features.T @ residual + l2 * weights
    grad_b = residual.sum(axis=0)
    return loss, np.concatenate([grad_w.ravel(), grad_b])


def fit_logistic_regression(
    features,
    labels,
    l2,
    num_classes=None,
    standardize=True,
    max_iterations=1000,
    gradient_tolerance=1e-5,
    initial=None,
    dtype="float64",
):
    """Fits the L2-regularised multinomial logistic regression of the module docstring.

    Args:
      features: `[N, F]` train features.
      labels: `[N]` int class ids.
      l2: regularisation strength (>= 0).
      num_classes: C; default `max(labels) + 1`.
      standardize: z-score each feature with the train mean and standard deviation
        (constant features keep scale 1).
      max_iterations: L-BFGS iteration cap.
      gradient_tolerance: stop when the largest gradient entry is below this.
      initial: optional `LogisticRegression` to warm-start from (same shapes).
      dtype: "float64" (default, deterministic and precise) or "float32" (half the memory).

    Returns:
      `LogisticRegression`.
    """
    features = check_features(features, "features", np.dtype(dtype))
    labels = check_labels(labels, "labels", features.shape[0])
    num_classes = resolve_num_classes(num_classes, labels=labels)
    l2 = check_positive_float(l2, "l2", allow_zero=True)
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    gradient_tolerance = check_positive_float(gradient_tolerance, "gradient_tolerance")
    if standardize:
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale <= 1e-12 * max(1.0, float(np.abs(mean).max()))] = 1.0
    else:
        mean = np.zeros(features.shape[1], features.dtype)
        scale = np.ones(features.shape[1], features.dtype)
    inputs = (features - mean) / scale
    size = features.shape[1] * num_classes + num_classes
    if initial is not None:
        start = np.concatenate([initial.weights.ravel(), initial.bias]).astype(np.float64)
        if start.shape[0] != size:
            raise ValueError(f"`initial` has {start.shape[0]} parameters; expected {size}")
    else:
        start = np.zeros(size, np.float64)

    def objective(params):
        loss, grad = logistic_loss_and_grad(params.astype(features.dtype), inputs, labels, l2)
        return float(loss), grad.astype(np.float64)

    result = scipy.optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations, "gtol": gradient_tolerance, "ftol": 1e-12, "maxfun": 2 * max_iterations},
    )
    params = result.x
    dim = features.shape[1]
    return LogisticRegression(
        weights=params[: dim * num_classes].reshape(dim, num_classes),
        bias=params[dim * num_classes:],
        mean=mean.astype(np.float64),
        scale=scale.astype(np.float64),
        l2=l2,
        iterations=int(result.nit),
        converged=bool(result.success),
        loss=float(result.fun),
    )


def stratified_split(labels, fraction, seed):
    """`(train_index, held_out_index)`: about `fraction` of each class held out, by `seed`.

    Classes with a single example stay entirely in the train part.
    """
    labels = check_labels(labels, "labels")
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1); got {fraction}")
    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        count = min(int(round(fraction * members.size)), members.size - 1)
        held_out.append(members[:count])
        train.append(members[count:])
    train, held_out = np.sort(np.concatenate(train)), np.sort(np.concatenate(held_out))
    if held_out.size == 0:
        raise ValueError(
            f"`validation_fraction`={fraction} holds out no example of {labels.size}; "
            "raise it or pass a fixed `l2`"
        )
    return train, held_out


def select_l2(
    features,
    labels,
    l2_grid=DEFAULT_L2_GRID,
    validation_fraction=0.2,
    seed=0,
    num_classes=None,
    standardize=True,
    max_iterations=1000,
    dtype="float64",
    return_model=False,
    gradient_tolerance=1e-5,
):
    """Chooses l2 from `l2_grid` by top-1 on a stratified held-out split of the train features.

    Fits from the largest l2 down, each warm-started from the previous solution; ties go to the
    larger l2. Returns `(best_l2, {"grid", "validation_fraction", "seed", "num_validation",
    "validation_top1"})`, plus the best l2's fit on the split if `return_model`.
    """
    features = check_features(features, "train_features", np.dtype(dtype))
    labels = check_labels(labels, "train_labels", features.shape[0], "train_features")
    num_classes = resolve_num_classes(num_classes, labels=labels)
    grid = sorted({check_positive_float(v, "l2_grid", allow_zero=True) for v in l2_grid}, reverse=True)
    if not grid:
        raise ValueError("`l2_grid` must hold at least one value")
    train, held_out = stratified_split(labels, validation_fraction, seed)
    scores, models, model = {}, {}, None
    for l2 in grid:
        model = fit_logistic_regression(
            features[train], labels[train], l2, num_classes, standardize, max_iterations, gradient_tolerance,
            initial=model, dtype=dtype,
        )
        predictions = np.argmax(model.logits(features[held_out]), axis=1)
        scores[l2], models[l2] = float(np.mean(predictions == labels[held_out])), model
    best = max(grid, key=lambda v: (scores[v], v))
    info = {
        "grid": [float(v) for v in sorted(grid)],
        "validation_fraction": float(validation_fraction),
        "seed": int(seed),
        "num_validation": int(held_out.size),
        "validation_top1": {repr(float(v)): scores[v] for v in sorted(grid)},
    }
    return (best, info, models[best]) if return_model else (best, info)


def linear_lbfgs_evaluate(
    train_features,
    train_labels,
    test_features,
    test_labels,
    l2="auto",
    l2_grid=DEFAULT_L2_GRID,
    validation_fraction=0.2,
    seed=0,
    num_classes=None,
    standardize=True,
    max_iterations=1000,
    dtype="float64",
    gradient_tolerance=1e-5,
):
    """Offline L-BFGS linear probe; returns one JSON-ready record with its protocol.

    Args:
      train_features, train_labels, test_features, test_labels: `[N, F]`, `[N]`, `[M, F]`, `[M]`.
      l2: a number, or "auto" to choose it from `l2_grid` on a held-out `validation_fraction`
        of the train features (split by `seed`), then refit on all of them.
      standardize, max_iterations, dtype, gradient_tolerance: see `fit_logistic_regression`.

    Returns:
      `{"protocol": "linear_lbfgs", "l2", "l2_selection", "standardize", "objective",
      "dtype", "gradient_tolerance", "iterations", "converged", "num_train", "num_test",
      "train_top1", "top1", "top5"}`.
    """
    train = check_features(train_features, "train_features", np.dtype(dtype))
    test = check_features(test_features, "test_features", np.dtype(dtype))
    if test.shape[1] != train.shape[1]:
        raise ValueError(
            f"`test_features` has {test.shape[1]} dimensions but `train_features` has {train.shape[1]}"
        )
    train_labels = check_labels(train_labels, "train_labels", train.shape[0], "train_features")
    test_labels = check_labels(test_labels, "test_labels", test.shape[0], "test_features")
    num_classes = resolve_num_classes(num_classes, train_labels=train_labels, test_labels=test_labels)
    selection = initial = None
    if isinstance(l2, str):
        if l2 != "auto":
            raise ValueError(f"`l2` must be a number >= 0 or 'auto'; got {l2!r}")
        l2, selection, initial = select_l2(
            train, train_labels, l2_grid, validation_fraction, seed, num_classes, standardize, max_iterations, dtype,
            return_model=True, gradient_tolerance=gradient_tolerance,
        )
    # Warm-started from the held-out fit of the chosen l2 (same optimum, fewer iterations).
    model = fit_logistic_regression(
        train, train_labels, l2, num_classes, standardize, max_iterations, gradient_tolerance, initial=initial,
        dtype=dtype,
    )
    train_predictions = np.argmax(model.logits(train), axis=1)
    return {
        "protocol": "linear_lbfgs",
        "l2": float(model.l2),
        "l2_selection": selection,
        "standardize": bool(standardize),
        "objective": OBJECTIVE,
        "dtype": str(np.dtype(dtype)),
        "gradient_tolerance": float(gradient_tolerance),
        "iterations": model.iterations,
        "converged": model.converged,
        "num_train": int(train.shape[0]),
        "num_test": int(test.shape[0]),
        "train_top1": float(np.mean(train_predictions == train_labels)),
        **topk_accuracies(model.logits(test), test_labels),
    }
