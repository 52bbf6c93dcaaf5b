"""Kernel-dependence diagnostics of any encoder (the `sslhsic-analyze` script's library).

`metrics`: `hsic_identity`, `label_cka`, `infonce`, `alignment`, `uniformity`, `rankme`: pure
functions of features, tested against direct NumPy computations. `report`: `analyze(encoder,
source)` (every metric on augmented views and clean images, kNN) and `plot_dashboard`.
"""

from sslhsic_tf.analysis.metrics import (
    alignment,
    hsic_identity,
    infonce,
    label_cka,
    rankme,
    uniformity,
)
from sslhsic_tf.analysis.report import analyze, plot_dashboard
