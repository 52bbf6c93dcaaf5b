"""Choosing the data-parallel engine: `tf.distribute` on TensorFlow, `keras.distribution` on JAX.

`make_strategy(name)` returns the object under whose scope a model is built and trained:
- TensorFlow backend: "default" (one device), "mirrored" (all local GPUs, or the given
  devices; CPU-only machines can use logical CPU devices), "multiworker" (cluster from the
  `TF_CONFIG` environment variable), "tpu" (a `TPUClusterResolver` for `tpu_address`).
- JAX backend: "default" (one device) or "data_parallel"/"mirrored" (all local devices through
  `keras.distribution.DataParallel`, set globally). The JAX strategies are returned as a
  `JaxDistribution` that provides `scope()` and `num_replicas_in_sync` like a tf.distribute
  strategy, so the scripts treat both alike.
"""

import contextlib

import keras

TF_STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
JAX_STRATEGIES = ("default", "mirrored", "data_parallel")


class JaxDistribution:
    """`keras.distribution.DataParallel` over the local devices, with a strategy-like interface."""

    def __init__(self, devices=None):
        import jax

        self.devices = list(devices or jax.devices())
        self.distribution = keras.distribution.DataParallel(devices=self.devices)
        keras.distribution.set_distribution(self.distribution)

    @property
    def num_replicas_in_sync(self):
        return len(self.devices)

    def scope(self):
        return self.distribution.scope()


class _DefaultJax:
    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def make_strategy(name="default", *, tpu_address=None, devices=None, cross_device_ops=None):
    """Returns the strategy called `name` for the current Keras backend.

    Args:
      name: "default", "mirrored", "multiworker" or "tpu" (TensorFlow); "default",
        "mirrored"/"data_parallel" (JAX).
      tpu_address: the TPU name or grpc address, for "tpu" ("" or "local" for a TPU VM).
      devices: devices for "mirrored" (e.g. ["/cpu:0", "/cpu:1"]); all local GPUs by default.
      cross_device_ops: "nccl", "hierarchical_copy" or "reduce_to_one_device" for "mirrored".
        Gathers have been reported to hang with NCCL on some set-ups; "reduce_to_one_device"
        avoids it.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        if name == "default":
            return _DefaultJax()
        if name in ("mirrored", "data_parallel"):
            return JaxDistribution(devices)
        raise ValueError(
            f"--strategy={name!r} is not available on the JAX backend; choose one of "
            f"{', '.join(JAX_STRATEGIES)} (or run with KERAS_BACKEND=tensorflow)"
        )
    if backend != "tensorflow":
        raise ValueError(f"sslhsic_tf runs on the tensorflow or jax backend, not {backend!r}")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        ops = {
            None: None,
            "nccl": tf.distribute.NcclAllReduce,
            "hierarchical_copy": tf.distribute.HierarchicalCopyAllReduce,
            "reduce_to_one_device": tf.distribute.ReductionToOneDevice,
        }
        if cross_device_ops not in ops:
            raise ValueError(
                f"cross_device_ops must be one of {sorted(k for k in ops if k)}; got "
                f"{cross_device_ops!r}"
            )
        made = ops[cross_device_ops]() if ops[cross_device_ops] else None
        if made is None and not tf.config.list_physical_devices("GPU"):
            made = tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=made)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(
        f"--strategy must be one of {', '.join(TF_STRATEGIES)} on the TensorFlow backend; got "
        f"{name!r}"
    )
