"""Training models: `create(name, encoder, **overrides)` returns a `keras.Model` to `fit()`.

Methods: ssl_hsic, ssl_hsic_no_target, byol, simclr, cissl, dissl. Each is a short `SSLModel`
subclass (base.py holds the one train step) registered in registry.py.
"""

from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.byol import BYOL
from sslhsic_tf.methods.cissl import CISSL
from sslhsic_tf.methods.dissl import DISSL
from sslhsic_tf.methods.registry import create, names, register
from sslhsic_tf.methods.simclr import SimCLR
from sslhsic_tf.methods.ssl_hsic import SSLHSIC

__all__ = ["SSLModel", "SSLHSIC", "BYOL", "SimCLR", "CISSL", "DISSL", "create", "names", "register"]
