"""Training models: `create(name, encoder, **overrides)` returns a `keras.Model` to `fit()`.

Methods: `names()`. Each is a short `SSLModel` subclass in its own module of this package,
registered by a decorator; every such module is imported here, so a new method is a new file
(base.py holds the backend-neutral step methods, tf_step.py and jax_step.py the two backends'
steps, target.py the EMA target mixin). The method classes are also attributes of this package
(`methods.SSLHSIC`, `methods.SimCLR`, ...).
"""

import importlib
import pkgutil

from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import create, get, names, options, register

_INFRASTRUCTURE = {"base", "registry", "target", "tf_step", "jax_step"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

_CLASSES = {cls.__name__: cls for cls in (get(n) for n in names())}
globals().update(_CLASSES)

__all__ = ["SSLModel", *sorted(_CLASSES), "create", "get", "names", "options", "register"]
