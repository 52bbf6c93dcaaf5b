"""`evaluate_encoder`: every protocol from one call, as one JSON-serialisable report.

Features for kNN and the L-BFGS probe are extracted once (frozen encoder, inference mode, the
test transform) and shared; the SGD probe, fine-tuning and semi-supervised runs train on the
images. Every result record names its protocol and all its settings.
"""

import inspect
import json
import os
import time

import keras
import numpy as np

from sslhsic_tf.evaluation.classifier import to_jsonable
from sslhsic_tf.evaluation.features import cached_features, extract_features, transform_name, weights_fingerprint
from sslhsic_tf.evaluation.finetune import finetune_evaluate
from sslhsic_tf.evaluation.knn import knn_evaluate
from sslhsic_tf.evaluation.linear_lbfgs import linear_lbfgs_evaluate
from sslhsic_tf.evaluation.linear_sgd import linear_sgd_evaluate
from sslhsic_tf.evaluation.semi_supervised import PROTOCOLS as SEMI_SUPERVISED_PROTOCOLS
from sslhsic_tf.evaluation.semi_supervised import semi_supervised_evaluate
from sslhsic_tf.evaluation.transforms import resolve_for_data

REPORT_FORMAT = "sslhsic_tf.evaluation/1"
PROTOCOLS = ("knn", "linear_lbfgs", "linear_sgd", "finetune", "semi_supervised")
_FEATURE_PROTOCOLS = ("knn", "linear_lbfgs")
_FUNCTIONS = {
    "knn": knn_evaluate,
    "linear_lbfgs": linear_lbfgs_evaluate,
    "linear_sgd": linear_sgd_evaluate,
    "finetune": finetune_evaluate,
}
# Arguments evaluate_encoder supplies itself (not settable through the per-protocol options).
_SUPPLIED = {
    "train_features", "train_labels", "test_features", "test_labels", "encoder", "train_data",
    "test_data", "num_classes", "return_model", "features",
}


def _check_options(protocol, options, extra=()):
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"`{protocol}` options must be a dict of keyword arguments; got {type(options).__name__}")
    function = _FUNCTIONS.get(protocol)
    allowed = set(extra)
    if function is not None:
        allowed |= set(inspect.signature(function).parameters) - _SUPPLIED
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"`{protocol}` options {unknown} are not accepted; valid: {sorted(allowed)}")
    return dict(options)


def _encoder_summary(encoder):
    summary = {"name": getattr(encoder, "name", type(encoder).__name__), "class": type(encoder).__name__}
    if isinstance(encoder, keras.layers.Layer):
        summary["num_parameters"] = int(sum(int(np.prod(v.shape)) for v in encoder.weights))
        summary["weights_sha256"] = weights_fingerprint(encoder)
    return summary


def evaluate_encoder(
    encoder,
    train_data,
    test_data,
    protocols=("knn", "linear_lbfgs"),
    num_classes=None,
    batch_size=256,
    test_transform="default",
    eval_config="auto",
    knn=None,
    linear_lbfgs=None,
    linear_sgd=None,
    finetune=None,
    semi_supervised=None,
    feature_cache_dir=None,
    data_name=None,
    results_path=None,
):
    """Evaluates a frozen (or, for fine-tuning, copied) encoder under the chosen protocols.

    Args:
      encoder: `keras.Model`, float32 `[B, H, W, 3]` in [0, 1] -> `[B, F]`.
      train_data, test_data: `(images, labels)` arrays or finite `tf.data.Dataset`s (fixed
        order if "semi_supervised" is used).
      protocols: any of "knn", "linear_lbfgs", "linear_sgd", "finetune", "semi_supervised".
      num_classes: C; default from the labels.
      batch_size: inference/training batch size for arrays and per-example datasets.
      test_transform: transform for feature extraction: a callable, None, or "default" (the
        centre crop of `eval_config`; the identity when the images already have its size).
      eval_config: `EvalConfig`, preset name, int size or "auto" (the data's own size); also
        the default for the SGD probe, fine-tuning and semi-supervised runs.
      knn, linear_lbfgs, linear_sgd, finetune: dicts of keyword arguments for
        `knn_evaluate`, `linear_lbfgs_evaluate`, `linear_sgd_evaluate`, `finetune_evaluate`
        (the last two may set their own `batch_size`).
      semi_supervised: dict with `fractions` (default (0.01, 0.1)) or `counts_per_class`,
        `seed` (0), `protocol` ("linear_lbfgs"), `save_dir` (subset files written there) and
        keyword arguments for that protocol.
      feature_cache_dir: if set, extracted features are cached there (`cached_features`).
      data_name: recorded in the report (e.g. "cifar10 (shared JPEG copy)").
      results_path: if set, the report is also written there as JSON.

    Returns:
      `{"format", "encoder": {...}, "data": {...}, "results": [record, ...], "seconds": {...}}`.
    """
    if isinstance(protocols, str):
        protocols = (protocols,)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"`protocols` must be a non-empty subset of {PROTOCOLS}; got {list(protocols)}")
    options = {
        "knn": _check_options("knn", knn),
        "linear_lbfgs": _check_options("linear_lbfgs", linear_lbfgs),
        "linear_sgd": _check_options("linear_sgd", linear_sgd),
        "finetune": _check_options("finetune", finetune),
    }
    semi = dict(semi_supervised or {})
    semi_protocol = semi.pop("protocol", "linear_lbfgs")
    if semi_protocol not in SEMI_SUPERVISED_PROTOCOLS:
        raise ValueError(
            f"`semi_supervised['protocol']` must be one of {SEMI_SUPERVISED_PROTOCOLS}; got {semi_protocol!r}"
        )
    fractions = semi.pop("fractions", None)
    counts = semi.pop("counts_per_class", None)
    semi_seed = semi.pop("seed", 0)
    save_dir = semi.pop("save_dir", None)
    if fractions is None and counts is None:
        fractions = (0.01, 0.1)
    semi_options = _check_options(
        semi_protocol, semi, extra=("transform", "eval_config") if semi_protocol == "linear_lbfgs" else ()
    )

    _, test_transform = resolve_for_data(None, test_transform, eval_config, train_data, batch_size)
    for name in ("linear_sgd", "finetune"):
        options[name].setdefault("eval_config", eval_config)
    semi_options.setdefault("eval_config", eval_config)
    results, seconds, data_summary = [], {}, {"name": data_name, "test_transform": transform_name(test_transform)}
    needs_features = any(p in _FEATURE_PROTOCOLS for p in protocols) or (
        "semi_supervised" in protocols and semi_protocol == "linear_lbfgs"
    )
    features = None
    if needs_features:
        start = time.perf_counter()
        if feature_cache_dir is not None:
            train_f, train_l, _ = cached_features(
                os.path.join(feature_cache_dir, "train_features.npz"), encoder, train_data, batch_size,
                test_transform, name="train_data",
            )
            test_f, test_l, _ = cached_features(
                os.path.join(feature_cache_dir, "test_features.npz"), encoder, test_data, batch_size,
                test_transform, name="test_data",
            )
        else:
            train_f, train_l = extract_features(encoder, train_data, batch_size, test_transform, name="train_data")
            test_f, test_l = extract_features(encoder, test_data, batch_size, test_transform, name="test_data")
        features = (train_f, train_l, test_f, test_l)
        seconds["features"] = time.perf_counter() - start
        data_summary.update(num_train=int(train_l.size), num_test=int(test_l.size), feature_dim=int(train_f.shape[1]))
        if num_classes is None:
            num_classes = int(max(train_l.max(), test_l.max())) + 1

    for protocol in protocols:
        start = time.perf_counter()
        if protocol in _FEATURE_PROTOCOLS:
            record = _FUNCTIONS[protocol](*features, num_classes=num_classes, **options[protocol])
            results.extend(record if isinstance(record, list) else [record])
        elif protocol in ("linear_sgd", "finetune"):
            kwargs = {"batch_size": batch_size, **options[protocol]}
            results.append(_FUNCTIONS[protocol](encoder, train_data, test_data, num_classes=num_classes, **kwargs))
        else:
            for subset in ([{"fraction": f} for f in fractions or ()] + [{"count_per_class": c} for c in counts or ()]):
                tag = "_".join(f"{k}{v}" for k, v in subset.items())
                results.append(semi_supervised_evaluate(
                    encoder, train_data, test_data, seed=semi_seed, protocol=semi_protocol,
                    num_classes=num_classes, batch_size=batch_size,
                    save_path=None if save_dir is None else os.path.join(save_dir, f"subset_{tag}_seed{semi_seed}.json"),
                    features=features if semi_protocol == "linear_lbfgs" else None,
                    **subset, **semi_options,
                ))
        seconds[protocol] = time.perf_counter() - start
    if num_classes is not None:
        data_summary["num_classes"] = int(num_classes)
    report = to_jsonable({
        "format": REPORT_FORMAT,
        "encoder": _encoder_summary(encoder),
        "data": data_summary,
        "results": results,
        "seconds": seconds,
    })
    if results_path is not None:
        save_report(results_path, report)
    return report


def save_report(path, report):
    """Writes `report` as indented JSON (atomically)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(report, handle, indent=1, allow_nan=False)
    os.replace(tmp, path)
    return path
