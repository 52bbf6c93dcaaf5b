"""Evaluation of frozen (and fine-tuned) encoders: kNN, linear probes, fine-tuning, label subsets.

- `encoders.load_encoder`: an encoder from a run folder, `.keras` file, `zoo:NAME` or SavedModel.
- `features`: inference-mode feature extraction, L2 normalisation, a weights-keyed cache.
- `knn`: weighted k-NN (cosine, exp(s/T) votes), k = 20 and 200, T = 0.07.
- `linear_lbfgs`: offline L-BFGS logistic-regression probe on cached features.
- `linear_sgd`: SGD probe on images with augmentation and an EMA head (SSL-HSIC protocol).
- `finetune`: the whole encoder plus a linear head.
- `semi_supervised`: class-balanced label subsets by seed, saved as JSON, and runs on them.
- `transforms`: probe-training / test transforms on batches from `sslhsic_tf.data` eval configs.
- `projection`: PCA and exact t-SNE for 2-D maps (plots live in `sslhsic_tf.training.plots`).
- `suite.evaluate_encoder`: all of the above in one JSON-serialisable report.
- `check_features`, `check_labels`: the argument checks every protocol uses (one-line errors).
"""

from sslhsic_tf.evaluation._checks import check_features, check_labels
from sslhsic_tf.evaluation.classifier import EncoderClassifier
from sslhsic_tf.evaluation.encoders import load_encoder
from sslhsic_tf.evaluation.features import (
    cached_features,
    extract_features,
    l2_normalize,
    load_features,
    save_features,
    weights_fingerprint,
)
from sslhsic_tf.evaluation.finetune import finetune_evaluate
from sslhsic_tf.evaluation.knn import knn_evaluate, knn_scores
from sslhsic_tf.evaluation.linear_lbfgs import (
    LogisticRegression,
    fit_logistic_regression,
    linear_lbfgs_evaluate,
    select_l2,
)
from sslhsic_tf.evaluation.linear_sgd import linear_sgd_evaluate
from sslhsic_tf.evaluation.metrics import correct_at_k, topk_accuracies
from sslhsic_tf.evaluation.projection import pca, tsne
from sslhsic_tf.evaluation.semi_supervised import (
    class_balanced_subset,
    load_subset,
    save_subset,
    semi_supervised_evaluate,
)
from sslhsic_tf.evaluation.suite import evaluate_encoder, save_report
from sslhsic_tf.evaluation.transforms import CentreCrop, PadCropFlip, RandomResizedCropFlip, eval_transforms

__all__ = [
    "CentreCrop",
    "EncoderClassifier",
    "LogisticRegression",
    "PadCropFlip",
    "RandomResizedCropFlip",
    "cached_features",
    "class_balanced_subset",
    "correct_at_k",
    "eval_transforms",
    "evaluate_encoder",
    "extract_features",
    "finetune_evaluate",
    "fit_logistic_regression",
    "knn_evaluate",
    "knn_scores",
    "l2_normalize",
    "linear_lbfgs_evaluate",
    "linear_sgd_evaluate",
    "load_features",
    "load_subset",
    "pca",
    "save_features",
    "save_report",
    "save_subset",
    "select_l2",
    "semi_supervised_evaluate",
    "topk_accuracies",
    "tsne",
    "weights_fingerprint",
]
