"""Helpers shared by tests: running a script under the JAX backend in its own process; the
smallest in-process pretraining config; the ledger of injected faults."""

import collections
import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Code that makes TensorFlow absent from the process it starts, as on the GPU machines (JAX,
#: no TensorFlow): the path finder no longer sees `tensorflow*`, so `import tensorflow` raises
#: ModuleNotFoundError and `importlib.util.find_spec("tensorflow")` is None, as when it is not
#: installed (libraries that probe for it, such as etils under JAX's compilation cache, then
#: take their TensorFlow-free path instead of failing on a blocker's error).
NO_TENSORFLOW = """
import importlib.machinery, sys


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "tensorflow" or name.startswith(("tensorflow.", "tensorflow_")):
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [_PathFinderWithoutTensorFlow if finder is importlib.machinery.PathFinder
                    else finder for finder in sys.meta_path]
"""


def run_python(code, backend="jax", timeout=600, env=None):
    """Runs `code` in a fresh interpreter with `KERAS_BACKEND=backend`; returns its last stdout line as JSON.

    The script must print one JSON document as its last line.
    """
    full_env = dict(os.environ)
    full_env.update({"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT})
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"subprocess ({backend}) failed with {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    lines = [l for l in proc.stdout.strip().splitlines() if l.strip()]
    return json.loads(lines[-1])


class FaultLedger:
    """Counts injected faults and survived ones, by kind (summed over pytest-xdist workers by
    `tests/conftest.py`)."""

    def __init__(self):
        self.injected = collections.Counter()
        self.survived = collections.Counter()

    def inject(self, kind, count=1):
        self.injected[kind] += count

    def survive(self, kind, count=1):
        if self.survived[kind] + count > self.injected[kind]:
            raise AssertionError(f"fault {kind!r}: more survived than injected")
        self.survived[kind] += count

    def as_dict(self):
        return {"injected": dict(self.injected), "survived": dict(self.survived)}

    def add(self, counts):
        self.injected.update(counts["injected"])
        self.survived.update(counts["survived"])


FAULTS = FaultLedger()


def tiny_pretrain_config(tmp_path, n_train=256, n_test=96):
    """The demo preset shrunk to the fastest run to trace (ResNet-10 x0.125, small heads, batch
    32, 4 steps, a checkpoint every step, no SavedModel) on the first `n_train` / `n_test`
    embedded demo images, written to `tmp_path/tiny.npz`; returns (config, arrays)."""
    import numpy as np

    from sslhsic_tf import data
    from sslhsic_tf.configs import demo

    npz = os.path.join(str(tmp_path), "tiny.npz")
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        source = data.demo(split)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = source.images[:n], source.labels[:n]
    np.savez(npz, **arrays)
    config = demo.get_config()
    config.model.depth, config.model.width_multiplier = 10, 0.125
    config.method_kwargs.update({"projector_hidden": 32, "projection_dim": 16,
                                 "predictor_hidden": 32, "num_features": 32,
                                 "bandwidth_points": 64})
    config.batch_size = 32
    config.total_steps = 4
    config.checkpoint_every_steps = 1
    config.export.saved_model = False
    config.data.train = f"cifar10_lossless:{npz}:train"
    config.data.test = f"cifar10_lossless:{npz}:test"
    return config, arrays
