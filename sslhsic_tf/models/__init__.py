"""Encoders and heads (backbones separate from heads, keras-hub style).

- `layers`: `BatchNorm` (cross-replica on TF and JAX, recipe defaults), `ImageNormalization`.
- `resnet`: `resnet(depth, width_multiplier, cifar_stem, **options)`, `resnet_feature_dim`,
  `pyramid_outputs(encoder)` / `feature_pyramid(encoder)` (stage outputs by stride, P0-P5).
- `heads`: `MLP` and the papers' heads (`byol_projector`, `byol_predictor`, `cissl_student`,
  `cissl_teacher`, `dissl_teacher`, `dissl_student`, `linear_probe`).
"""

from sslhsic_tf.models.heads import (
    MLP,
    byol_predictor,
    byol_projector,
    cissl_student,
    cissl_teacher,
    dissl_student,
    dissl_teacher,
    linear_probe,
)
from sslhsic_tf.models.layers import IMAGENET_MEAN, IMAGENET_STD, BatchNorm, ImageNormalization
from sslhsic_tf.models.resnet import (
    RESNET_BLOCKS,
    feature_pyramid,
    pyramid_outputs,
    resnet,
    resnet_feature_dim,
)

__all__ = [
    "BatchNorm",
    "ImageNormalization",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MLP",
    "RESNET_BLOCKS",
    "byol_predictor",
    "feature_pyramid",
    "byol_projector",
    "cissl_student",
    "cissl_teacher",
    "dissl_student",
    "dissl_teacher",
    "linear_probe",
    "pyramid_outputs",
    "resnet",
    "resnet_feature_dim",
]
