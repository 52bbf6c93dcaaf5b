"""The training runs that tests/jax_backend compares across backends (imported on both sides).

Every run starts from the same initial weights (written by the TensorFlow side, loaded with
`set_weights` on the JAX side: `model.weights` has the same order on both backends) and sees the
same batches, so the two backends must produce the same weights up to float32 rounding.

Settings that make the comparison exact and sensitive:
- no random draws in the step: exact SSL-HSIC kernel (`num_features=None`) and the bandwidth
  objective over all pairs (`bandwidth_points=None`); JAX and TensorFlow draw different numbers
  from the same stateless seed (sslhsic_tf/utils/random.py);
- updates well above rounding: no warm-up, a large LARS (or SGD) learning rate and trust
  coefficient, a fast bandwidth optimizer, and `tau_base=0.5` so that the EMA target moves by
  half the online update (a missing EMA update would show).
"""

import numpy as np

from tests.methods.common import TINY, random_batch, tiny_encoder

METHODS = tuple(TINY)  # every registered method
BATCH = 8
STEPS = 2
NUM_CLASSES = 3
EVAL_IMAGES_SEED = 11
#: The in-step augmentation runs: simclr on CIFAR pipeline batches (labels 0..9).
AUGMENT_METHOD = "simclr"
AUGMENT_OVERRIDES = {"num_classes": 10}
#: An update above this is real (see `assert_same_training`).
MOVED = 1e-5


def method_kwargs(name):
    kwargs = dict(TINY[name], log_norms=True)  # grad_norm and weight_norm compared as logs
    if name.startswith("ssl_hsic"):
        kwargs.update(num_features=None, bandwidth_points=None, bandwidth_learning_rate=1e-2)
    if name in ("ssl_hsic", "byol"):
        kwargs["tau_base"] = 0.5
    if name in ("ssl_hsic", "ssl_hsic_no_target", "byol", "simclr"):  # LARS
        kwargs["optimizer_config"] = {"base_learning_rate": 3.2, "trust_coefficient": 1e-2,
                                      "warmup_fraction": 0.0}
    else:
        # Their recipe's AdamW takes sign-like first steps (m / sqrt(v) = ±1 once |g| >> eps),
        # which turns rounding in the zero gradients of biases followed by BatchNorm into
        # lr-sized differences (as in tests/methods/test_distributed.py); SGD + momentum with
        # an active global-norm clip checks the same step. Adam itself runs here for the probe
        # and the bandwidth.
        kwargs["optimizer_config"] = {"name": "sgd", "base_learning_rate": 3.2,
                                      "clipnorm": 0.05, "warmup_fraction": 0.0}
    return kwargs


def make_model(name, **overrides):
    """The uncompiled training model of `name` with the tiny encoder (tests/methods/common.py)."""
    from sslhsic_tf import methods

    kwargs = dict(total_steps=20, batch_size=BATCH, num_classes=NUM_CLASSES, seed=0,
                  **method_kwargs(name))
    kwargs.update(overrides)
    return methods.create(name, tiny_encoder(), **kwargs)


def batch():
    """The one random batch every step of the method comparison trains on."""
    return random_batch(BATCH, size=8, num_views=2, num_classes=NUM_CLASSES, seed=3)


def eval_images():
    """Images the encoders are evaluated on after training: `[4, 8, 8, 3]` in [0, 1]."""
    return np.random.default_rng(EVAL_IMAGES_SEED).random((4, 8, 8, 3), dtype=np.float32)


def repeated(batches, steps=None):
    """A tf.data dataset of `batches` (a list of dicts) in order, or of one batch `steps` times."""
    import tensorflow as tf

    if steps is not None:
        return tf.data.Dataset.from_tensors(batches).repeat(steps)
    ds = tf.data.Dataset.from_tensors(batches[0])
    for b in batches[1:]:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(b))
    return ds


def save_list(path, arrays):
    np.savez(path, *[np.asarray(a) for a in arrays])


def load_list(path):
    with np.load(path) as d:
        return [d[f"arr_{i}"] for i in range(len(d.files))]


def assert_same_training(got, want, initial, *, what, update_rtol=1e-2, atol=1e-5):
    """Weights `got` equal `want` (lists aligned with `initial`, the weights before training).

    Per variable, with u = max |want - initial| its update:
    max |got - want| <= update_rtol * u + atol. The tolerance follows the update because
    rounding differences (other kernels, summation orders, multi-threaded reductions) grow with
    the step size; `atol` covers the biases directly followed by BatchNorm, whose gradient is
    zero up to rounding (updates of 1e-9 to 1e-7, pure noise on either backend).
    Also requires at least half of the variables to have moved by more than MOVED (far above
    rounding, far below the real updates of these runs, about 1e-3 and more).
    """
    assert len(got) == len(want) == len(initial), (len(got), len(want), len(initial))
    moved = 0
    for i, (g, w, w0) in enumerate(zip(got, want, initial)):
        assert g.shape == w.shape, f"{what}: variable {i} has shape {g.shape}, expected {w.shape}"
        if not np.issubdtype(w.dtype, np.floating):
            np.testing.assert_array_equal(g, w, err_msg=f"{what}: variable {i}")
            continue
        if not w.size:
            continue
        u = np.abs(w.astype(np.float64) - w0).max()
        diff = np.abs(g.astype(np.float64) - w).max()
        moved += int(u > MOVED)
        assert diff <= update_rtol * u + atol, (
            f"{what}: variable {i} {w.shape}: the two runs differ by up to {diff:.3g}; its "
            f"update is {u:.3g} (tolerance {update_rtol:g} x update + {atol:g})")
    assert moved >= len(want) // 2, f"{what}: only {moved} of {len(want)} variables moved"
