"""The backend checks and the shims over private Keras / TensorFlow internals, in one place.

Everything else in the library calls these instead of `keras.backend.backend()` comparisons
scattered around or underscore attributes of Keras objects, so that a Keras upgrade that moves
an internal breaks (and is fixed in) this file only.
"""

import contextlib

import keras


def is_tensorflow():
    return keras.backend.backend() == "tensorflow"


def is_jax():
    return keras.backend.backend() == "jax"


def pixel_stage():
    """Where the pixel augmentation (colour jitter, grayscale, blur, solarize) runs: "pipeline"
    (inside tf.data, TensorFlow backend) or "device" (inside the training step, the JAX path,
    which must not need TensorFlow's ops in the step). The one decision for the whole library."""
    return "pipeline" if is_tensorflow() else "device"


# The fastest configuration of the SSL step on each CPU kind measured so far, by the instruction
# set that decides it (`benchmarks/train_step.py --cpu-configs`, ResNet-18 x0.25, B = 256, the
# README's table): (mixed-precision policy, jit_compile).
CPU_PRECISION = (
    # Intel AMX (Sapphire Rapids): bf16 + XLA 1.28x float32; bf16 without XLA 0.22x (measured
    # with Keras' composite BatchNorm, before the fused kernel: not re-measured since).
    ("amx_bf16", ("mixed_bfloat16", True)),
    # AVX512-BF16 without AMX (AMD EPYC), fused BatchNorm: bf16 without XLA 1.83x the float32 of
    # Keras' BatchNorm (float32 fused 1.21x); XLA 0.58x, bf16 + XLA 0.69x.
    ("avx512_bf16", ("mixed_bfloat16", False)),
)
FALLBACK_PRECISION = ("float32", "auto")


def _cpuinfo(key):
    """The value of the first `key` line of /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags():
    """The instruction-set flags of this machine's CPU (Linux /proc/cpuinfo; empty elsewhere)."""
    return set((_cpuinfo("flags") or "").split())


def machine():
    """{"cpu": model name, "cores": logical CPUs} of this machine (recorded with a run's cost)."""
    import os
    import platform

    name = _cpuinfo("model name") or platform.processor() or platform.machine()
    return {"cpu": name, "cores": os.cpu_count()}


def auto_precision(flags=None):
    """(policy, jit_compile) that `mixed_precision="auto"` stands for (the CPU presets' default).

    On the TensorFlow backend with no GPU or TPU visible: the fastest measured configuration of
    this CPU kind (`CPU_PRECISION`), float32 elsewhere. On JAX or an accelerator: float32 with
    Keras' own jit choice (set the policy explicitly there). The objectives compute in float32
    under every policy.
    """
    if not is_tensorflow():
        return FALLBACK_PRECISION
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"):
        return FALLBACK_PRECISION
    flags = cpu_flags() if flags is None else set(flags)
    for flag, choice in CPU_PRECISION:
        if flag in flags:
            return choice
    return FALLBACK_PRECISION


def without_autograph(fn):
    """`fn` for `tf.data.Dataset.map` / `filter`, traced as plain Python instead of through
    AutoGraph. The library's dataset functions branch only on Python values; AutoGraph's source
    rewriting of them and of everything they call (171 conversions) was most of the cost of
    building a pipeline: 13 s for a two-view ImageNet pipeline on 16 images (profiled). A
    tensor-valued Python `if` in them fails loudly at tracing instead of becoming a `tf.cond`."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


def clip_gradients(optimizer, grads):
    """The optimizer's own clipping (clipnorm / global_clipnorm / clipvalue) of `grads`."""
    return optimizer._clip_gradients(grads)


def unwrap_loss_scale(optimizer):
    """(the dynamic loss scale or None, the optimizer inside a `LossScaleOptimizer`)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale, optimizer.inner_optimizer
    return None, optimizer


def in_multi_worker_mode(strategy):
    """True for a `MultiWorkerMirroredStrategy` that spans several workers (TensorFlow only)."""
    if not is_tensorflow():
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.extended._in_multi_worker_mode())


def increment_iterations(optimizer):
    """Adds one to an optimizer's step counter (`iterations` is read-only in Keras 3)."""
    optimizer._iterations.assign_add(1)


def flatten_layers(layer):
    """`layer` and every layer nested in it, depth first, each once."""
    return layer._flatten_layers(include_self=True, recursive=True)


#: Retries of a TFDS download (TFDS' own default is 10 with exponential backoff: about 3.4
#: minutes before an offline machine hears that it is offline); 3 fail within seconds and still
#: ride out a dropped connection.
TFDS_DOWNLOAD_RETRIES = 3


@contextlib.contextmanager
def tfds_download_retries(retries=TFDS_DOWNLOAD_RETRIES):
    """Sets TFDS' module-level download retry count (`downloader.MAX_RETRIES`, read at each
    request) for the duration of the block."""
    from tensorflow_datasets.core.download import downloader

    previous = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = retries
    try:
        yield
    finally:
        downloader.MAX_RETRIES = previous


def slow_cos():
    """True where the backend's elementwise cos is slow enough for the objectives to use
    `objectives._numerics.polynomial_cos` instead: JAX on a CPU (XLA:CPU evaluates cos about
    4x slower than TensorFlow's vectorised kernel; benchmarks/objectives.py --backend both)."""
    if not is_jax():
        return False
    import jax

    return jax.default_backend() == "cpu"
