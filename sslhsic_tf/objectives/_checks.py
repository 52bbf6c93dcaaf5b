"""Input validation shared by every objective.

Each check raises `ValueError` (or `TypeError` for the wrong kind of object) naming the argument
and what was expected. Shape checks read **static** shapes, so they also run while a function is
traced (`tf.function`, `jax.jit`, Keras symbolic tensors); dimensions unknown at trace time are
skipped. Value checks (finiteness, positivity of tensor-valued hyperparameters) need concrete
values: they run on NumPy arrays, Python numbers and eager tensors, and are skipped inside traced
functions, where the trainer's divergence policy deals with NaNs.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

KERNELS = ("imq", "gaussian", "linear")


def is_concrete(x):
    """True when `x` has concrete values that can be read now (not a traced/symbolic tensor)."""
    if isinstance(x, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return True
    if isinstance(x, keras.KerasTensor):
        return False
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return False
        return isinstance(x, tf.Variable) or hasattr(x, "numpy")
    if backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return False
        return isinstance(x, jax.Array)
    return False


def static_shape(x):
    """The static shape of `x` as a tuple; unknown dimensions are None."""
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # a TensorShape of unknown rank
        return None


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def to_float32(x, name):
    """Converts `x` (array, tensor, float16/bfloat16/float64) to a float32 tensor."""
    if x is None:
        raise TypeError(f"{name} must be an array or tensor; got None")
    raw = getattr(x, "dtype", None)
    try:
        raw = np.asarray(x).dtype if raw is None else raw
        dtype = keras.backend.standardize_dtype(raw)
    except Exception as err:  # noqa: BLE001 - report what was passed
        raise TypeError(
            f"{name} must be a numeric array or tensor; got {type(x).__name__} with dtype {raw}"
        ) from err
    if not ("float" in dtype or "int" in dtype):
        raise TypeError(f"{name} must have a real numeric dtype; got {dtype}")
    x = ops.convert_to_tensor(x)
    return x if dtype == "float32" else ops.cast(x, "float32")


def check_finite(x, name):
    """Raises if concrete `x` holds NaN or inf; a no-op on traced/symbolic tensors."""
    if not is_concrete(x):
        return
    if isinstance(x, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        ok = bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))
    else:
        ok = bool(ops.convert_to_numpy(ops.all(ops.isfinite(x))))
    if not ok:
        raise ValueError(f"{name} must contain only finite values; got NaN or inf")


def check_rank3(x, name, spec, *, num_views=None, min_views=2, min_batch=2):
    """Checks that `x` has static rank 3 `[M, B, D]` with the given view/batch constraints.

    Args:
      spec: how the expected shape reads in the message, e.g. "[M, B, D] with M >= 2 views".
    Returns:
      The static shape (entries may be None).
    """
    shape = static_shape(x)
    got = "unknown rank" if shape is None else f"shape {_fmt(shape)}"
    if shape is None or len(shape) != 3:
        raise ValueError(f"{name} must have shape {spec}; got {got}")
    m, b, d = shape
    bad = (
        (m is not None and num_views is not None and m != num_views)
        or (m is not None and m < min_views)
        or (b is not None and b < min_batch)
        or (d is not None and d < 1)
    )
    if bad:
        raise ValueError(f"{name} must have shape {spec}; got {got}")
    return shape


def views_float32(views, name="views", *, num_views=None, min_views=2, min_batch=2, spec=None):
    """Validates views `[M, B, D]` (shape, finiteness when concrete) and returns them as float32."""
    if spec is None:
        head = f"[{num_views}, B, D]" if num_views is not None else "[M, B, D]"
        views_part = "" if num_views is not None else f" with M >= {min_views} views,"
        spec = f"{head}{views_part} B >= {min_batch} images and D >= 1 features (views first)"
    if views is None:
        raise TypeError(f"{name} must be an array or tensor of shape {spec}; got None")
    check_rank3(views, name, spec, num_views=num_views, min_views=min_views, min_batch=min_batch)
    out = to_float32(views, name)
    check_finite(out, name)
    return out


def check_same_shape(a, a_name, b, b_name):
    """Raises unless the static shapes of `a` and `b` agree (unknown dimensions match anything)."""
    sa, sb = static_shape(a), static_shape(b)
    if sa is None or sb is None:
        return
    same = len(sa) == len(sb) and all(x is None or y is None or x == y for x, y in zip(sa, sb))
    if not same:
        raise ValueError(
            f"{b_name} must have the same shape as {a_name}; got {a_name} {_fmt(sa)} and "
            f"{b_name} {_fmt(sb)}"
        )


def check_kernel(kernel):
    """Returns the kernel name in lower case; raises for anything but 'imq', 'gaussian', 'linear'."""
    if not isinstance(kernel, str) or kernel.lower() not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    return kernel.lower()


def positive_scalar(value, name):
    """Validates a positive scalar (Python number or scalar tensor); returns a Python float or float32 tensor.

    Tensor values are checked for positivity only when concrete (see the module docstring).
    """
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a positive number or scalar tensor; got {value!r}")
    if isinstance(value, numbers.Real):
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0; got {value}")
        return value
    shape = static_shape(value)
    if shape is None or len(shape) != 0:
        got = "unknown rank" if shape is None else f"shape {_fmt(shape)}"
        raise ValueError(f"{name} must be a scalar (shape ()) > 0; got {got}")
    tensor = to_float32(value, name)
    if is_concrete(tensor):
        v = float(ops.convert_to_numpy(tensor))
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0; got {v}")
    return tensor


def nonnegative_number(value, name):
    """Validates a finite Python number >= 0 (loss weights such as gamma, lam, beta)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite number >= 0; got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return value


def optional_positive_int(value, name):
    """Validates None or an int > 0 (e.g. num_features, num_points)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None or an int > 0; got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be None or an int > 0; got {value}")
    return int(value)


def check_seed(seed, name="seed"):
    """Accepts None, an int, a `keras.random.SeedGenerator` or a stateless `[2]` integer tensor."""
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    if isinstance(seed, bool):
        raise TypeError(f"{name} must be None, an int, a keras.random.SeedGenerator or a [2] int tensor; got {seed!r}")
    if isinstance(seed, numbers.Integral):
        return int(seed)
    shape = static_shape(seed)
    dtype = getattr(seed, "dtype", None)
    if dtype is None and shape is not None:
        dtype = np.asarray(seed).dtype
    dtype = str(dtype)
    if shape != (2,) or "int" not in dtype:
        raise ValueError(
            f"{name} must be None, an int, a keras.random.SeedGenerator or a stateless seed of "
            f"shape (2,) and integer dtype; got {type(seed).__name__} with shape {shape} and dtype {dtype}"
        )
    return seed
