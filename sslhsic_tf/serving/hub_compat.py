"""Importing `tensorflow_hub` where setuptools no longer ships `pkg_resources`.

tensorflow_hub 0.16.1 imports `pkg_resources.parse_version` once, for a TensorFlow version check
at import (tensorflow/hub#934); setuptools 82 removed `pkg_resources`, so `import tensorflow_hub`
fails there. `import_tensorflow_hub()` provides that one function from `packaging` (a
TensorFlow dependency) for the duration of the import only, then removes the stand-in.
"""

import importlib
import sys
import types


def import_tensorflow_hub():
    """Returns the `tensorflow_hub` module (see the module docstring for the compatibility step).

    For `hub.KerasLayer`, Keras 2 must be in use: set `TF_USE_LEGACY_KERAS=1` before TensorFlow
    is imported, or build the model with `import tf_keras`.
    """
    try:
        return importlib.import_module("tensorflow_hub")
    except ModuleNotFoundError as err:
        if err.name != "pkg_resources":
            raise
    from packaging.version import parse as parse_version

    stand_in = types.ModuleType("pkg_resources")
    stand_in.parse_version = parse_version
    sys.modules["pkg_resources"] = stand_in
    try:
        for name in [m for m in sys.modules if m.split(".")[0] == "tensorflow_hub"]:
            del sys.modules[name]  # a failed first import may have left submodules behind
        return importlib.import_module("tensorflow_hub")
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]
