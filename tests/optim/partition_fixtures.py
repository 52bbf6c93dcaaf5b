"""A small model and partitioned optimizer shared by test_partitioned.py and its JAX subprocess.

Backend-neutral (no TensorFlow import), so the JAX subprocess can import it cheaply.
"""

import keras
import numpy as np

from sslhsic_tf.models import BatchNorm
from sslhsic_tf.optim import PartitionedOptimizer

LOSSES = ["mse", "mse", "mse"]


def make_model():
    """Encoder (Dense -> BN) with an SSL head, a probe on the features, and a "bandwidth"."""
    x = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, name="enc")(x)
    h = BatchNorm(name="bn")(h)
    ssl = keras.layers.Dense(2, name="head")(h)
    probe = keras.layers.Dense(3, name="probe")(h)
    bw = keras.layers.Dense(1, use_bias=False, name="bw")(x)
    return keras.Model(x, [ssl, probe, bw])


FACTORIES = {
    "default": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    "bandwidth": lambda: keras.optimizers.Adam(3e-4),
    "probe": lambda: keras.optimizers.Adam(1e-2),
}


def make_optimizer(model, **kwargs):
    opt = PartitionedOptimizer(
        FACTORIES["default"](), bandwidth=FACTORIES["bandwidth"](), probe=FACTORIES["probe"](),
        **kwargs,
    )
    opt.assign_partition("probe", model.get_layer("probe").trainable_variables)
    opt.assign_partition("bandwidth", model.get_layer("bw").trainable_variables)
    return opt


def expected_partition(path):
    layer = path.split("/")[0]
    return {"probe": "probe", "bw": "bandwidth"}.get(layer, "default")


def reference(variables, grads_steps):
    """The same steps by independent, standalone Keras optimizers on copies of the variables."""
    copies = [keras.Variable(v.numpy()) for v in variables]
    opts = {k: f() for k, f in FACTORIES.items()}
    parts = [expected_partition(v.path) for v in variables]
    for grads in grads_steps:
        for name, opt in opts.items():
            pairs = [(g, c) for g, c, p in zip(grads, copies, parts) if p == name and g is not None]
            if pairs:
                opt.apply(*zip(*pairs))
    return [c.numpy() for c in copies]


def random_grads(variables, steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=v.shape).astype("float32") for v in variables] for _ in range(steps)]


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 3)).astype("float32")
    return x, [rng.normal(size=(8, k)).astype("float32") for k in (2, 3, 1)]
