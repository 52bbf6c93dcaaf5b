"""sslhsic_tf: self-supervised learning by kernel dependence maximisation on Keras 3.

Subpackages (imported on first use): objectives, distribute, models, optim, methods, data,
evaluation, serving, zoo, training. See WORKSPACE.md for the map.
"""

import importlib

from sslhsic_tf.version import __version__

_SUBMODULES = (
    "objectives", "distribute", "models", "optim", "methods", "data", "evaluation",
    "serving", "zoo", "training", "utils",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"sslhsic_tf.{name}")
    raise AttributeError(f"module 'sslhsic_tf' has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
