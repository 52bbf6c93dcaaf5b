"""Self-supervised objectives: pure functions in keras.ops over views-first `[M, B, D]` tensors.

Every objective casts its inputs to float32, validates them (`ValueError` naming the argument),
and runs on the TensorFlow and JAX backends. See objectives.md for the mathematics.
"""

from sslhsic_tf.objectives._checks import KERNELS
from sslhsic_tf.objectives.bandwidth import bandwidth_objective, log_kernel_slope
from sslhsic_tf.objectives.byol import byol_loss
from sslhsic_tf.objectives.contrastive import cissl_loss, infonce_loss
from sslhsic_tf.objectives.dino import dino_center_update, dino_loss
from sslhsic_tf.objectives.dissl import dissl_loss
from sslhsic_tf.objectives.hsic import hsic_zy, hsic_zz, ssl_hsic_loss
from sslhsic_tf.objectives.swav import sinkhorn_knopp, swav_loss
from sslhsic_tf.objectives.kernels import (
    gaussian_kernel,
    imq_kernel,
    kernel_from_squared_distances,
    kernel_matrix,
    linear_kernel,
    random_features,
    sample_frequencies,
    squared_distances,
)

__all__ = [
    "KERNELS",
    "bandwidth_objective",
    "byol_loss",
    "cissl_loss",
    "dino_center_update",
    "dino_loss",
    "dissl_loss",
    "gaussian_kernel",
    "hsic_zy",
    "hsic_zz",
    "imq_kernel",
    "infonce_loss",
    "kernel_from_squared_distances",
    "kernel_matrix",
    "linear_kernel",
    "log_kernel_slope",
    "random_features",
    "sample_frequencies",
    "sinkhorn_knopp",
    "squared_distances",
    "ssl_hsic_loss",
    "swav_loss",
]
