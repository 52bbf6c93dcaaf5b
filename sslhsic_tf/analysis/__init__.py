"""Kernel-dependence diagnostics of any representation (issue 16; first part: the metrics).

`metrics`: `hsic_identity`, `label_cka`, `infonce`, `alignment`, `uniformity`, `rankme`: pure
functions of features, tested against direct NumPy computations.
"""

from sslhsic_tf.analysis.metrics import (
    alignment,
    hsic_identity,
    infonce,
    label_cka,
    rankme,
    uniformity,
)
