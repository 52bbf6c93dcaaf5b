"""Backend-agnostic random draws that also accept *stateless* tensor seeds.

`keras.random` takes an int or a `keras.random.SeedGenerator`. Training steps and input
pipelines need a third kind: a seed tensor `[2]` (int32) derived from data, e.g. from
`(base_seed, step)`, so that a draw is reproducible, identical on every replica, and needs no
state to checkpoint. Every function here takes `seed` as one of:

- `None`: a fresh draw from Keras' global generator (not allowed inside a traced JAX function);
- `int` or `keras.random.SeedGenerator`: handed to `keras.random` unchanged;
- a tensor/array of shape `[2]`: a stateless seed.

Reproducibility: a given seed gives the same numbers on a given backend and compilation mode.
TensorFlow's XLA kernels derive the Philox key from a runtime seed differently from its CPU
kernels, and JAX uses its own generator, so an XLA-compiled step, an op-by-op step and a JAX
step draw different (identically distributed) numbers from the same seed.
"""

import keras
import numpy as np
from keras import ops


def _is_stateless(seed):
    return seed is not None and not isinstance(seed, (int, np.integer, keras.random.SeedGenerator))


def _backend():
    return keras.backend.backend()


# TensorFlow's default `alg="auto_select"` may choose another generator under XLA, which would
# make a jit-compiled step draw different numbers than the same step run op by op.
_TF_ALG = "philox"


def _tf_seed(seed):
    import tensorflow as tf

    return tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), 2**31 - 1), tf.int32)


def _jax_key(seed):
    import jax.numpy as jnp

    return jnp.asarray(seed).astype(jnp.uint32)


def stateless_seed(seed, *data):
    """Returns a `[2]` int32 seed derived from `seed` (int or `[2]` tensor) and ints/tensors `data`.

    `stateless_seed(base, step)` gives a new independent seed each step; the same inputs always
    give the same seed.
    """
    if isinstance(seed, keras.random.SeedGenerator):
        seed = seed.next()
    elif seed is None or isinstance(seed, (int, np.integer)):
        seed = np.array([0 if seed is None else int(seed) & 0x7FFFFFFF, 0], np.int32)
    if _backend() == "jax":
        import jax

        key = _jax_key(seed)
        for d in data:
            key = jax.random.fold_in(key, ops.convert_to_tensor(d, "uint32"))
        return key.astype("int32") if hasattr(key, "astype") else key
    if _backend() == "tensorflow":
        import tensorflow as tf

        seed = _tf_seed(seed)
        for d in data:
            seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(d, tf.int32), alg=_TF_ALG)
        return seed
    raise NotImplementedError(f"sslhsic_tf supports the tensorflow and jax backends, not {_backend()}")


def split(seed, num):
    """Returns `num` independent stateless seeds derived from `seed`, as a list."""
    return [stateless_seed(seed, i) for i in range(num)]


def uniform(shape, seed=None, minval=0.0, maxval=1.0, dtype="float32"):
    """Uniform draw on [minval, maxval) of `shape`."""
    if not _is_stateless(seed):
        return keras.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(
            shape, seed=_tf_seed(seed), minval=minval, maxval=maxval, dtype=dtype, alg=_TF_ALG
        )
    return keras.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=_jax_key(seed))


def normal(shape, seed=None, mean=0.0, stddev=1.0, dtype="float32"):
    """Normal draw of `shape`."""
    if not _is_stateless(seed):
        return keras.random.normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_normal(
            shape, seed=_tf_seed(seed), mean=mean, stddev=stddev, dtype=dtype, alg=_TF_ALG
        )
    return keras.random.normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=_jax_key(seed))


def randint(shape, seed, minval, maxval, dtype="int32"):
    """Integers uniform on [minval, maxval)."""
    if not _is_stateless(seed):
        return keras.random.randint(shape, minval, maxval, dtype=dtype, seed=seed)
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(
            shape, seed=_tf_seed(seed), minval=minval, maxval=maxval, dtype=dtype, alg=_TF_ALG
        )
    return keras.random.randint(shape, minval, maxval, dtype=dtype, seed=_jax_key(seed))
