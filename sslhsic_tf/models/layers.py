"""Small layers shared by the encoders and heads: `BatchNorm` and `ImageNormalization`.

`BatchNorm` is the one batch normalisation used everywhere in sslhsic_tf. With
`cross_replica=True` (the default, as in the SSL-HSIC/BYOL recipe) it normalises with
statistics of the *global* batch:

- TensorFlow backend: Keras' `synchronized=True` path, i.e. sums and squared sums all-reduced
  over the replicas of the current `tf.distribute` strategy (a no-op with one replica);
- JAX backend: plain batch statistics. Keras refuses `synchronized=True` there, and it is not
  needed: under `keras.distribution.DataParallel` the batch is one global array that XLA shards.

(Keras' synchronised path computes the variance as E[x²] − E[x]² from all-reduced sums,
clamped at 0; the unsynchronised path uses the two-pass variance. Both are float32 for
float16/bfloat16 inputs.)

Fused kernel (TensorFlow backend). Where the statistics are those of the local batch anyway --
one replica in sync, or `cross_replica=False`, or inference -- the layer runs TensorFlow's fused
batch-norm kernel (`FusedBatchNormV3`: statistics, normalisation and their gradient each in one
oneDNN/cuDNN call, float32 statistics for bfloat16/float16 inputs, no float32 copy of the
activations) instead of Keras' composite ops, with the same result: batch mean and biased variance,
the moving statistics updated as Keras does. The encoder's forward+backward on a CPU is 1.35x
(float32) to 1.4x (mixed_bfloat16) faster with it (`benchmarks/train_step.py --cpu-configs`
prints the figures). Inputs of any rank >= 2 with channels last use it (non-4-D ones reshaped to
`[N, 1, 1, C]`); a mask, renorm, another axis, float64, or more than one replica with
`cross_replica=True` take Keras' path.

`synchronized` itself is never written to the config (a config holding `synchronized=True`
cannot be loaded under JAX); `cross_replica` is, and it means the same thing on either backend.
"""

import keras
from keras import ops

_FUSED_DTYPES = ("float32", "bfloat16", "float16")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_positive_float(value, name, upper=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {value!r} of type {type(value).__name__}")
    if not value > 0 or (upper is not None and not value < upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"`{name}` must be > 0{bound}, got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class BatchNorm(keras.layers.BatchNormalization):
    """Batch normalisation with the recipe's defaults, cross-replica on every backend.

    Args:
      momentum: decay of the moving statistics (recipe: 0.9).
      epsilon: added to the variance (recipe: 1e-5).
      cross_replica: if True, training-mode statistics are those of the global batch (see the
        module docstring); if False, each tf.distribute replica uses its own shard (under JAX
        the batch is global anyway, so False and True coincide there).
      **kwargs: any other `keras.layers.BatchNormalization` argument (`axis`, `center`, `scale`,
        `gamma_initializer`, ...). A `synchronized` key (from a plain Keras config) is read as
        `cross_replica`.

    Input/output: `[..., C]` (any rank; normalised over every axis but `axis`).
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, cross_replica=True, **kwargs):
        synchronized = kwargs.pop("synchronized", None)
        if synchronized is not None:
            cross_replica = synchronized
        if not isinstance(cross_replica, bool):
            raise TypeError(f"`cross_replica` must be a bool, got {cross_replica!r}")
        momentum = _check_positive_float(momentum, "momentum", upper=1.0)
        epsilon = _check_positive_float(epsilon, "epsilon")
        super().__init__(
            momentum=momentum,
            epsilon=epsilon,
            synchronized=cross_replica and keras.backend.backend() == "tensorflow",
            **kwargs,
        )
        self.cross_replica = cross_replica

    def get_config(self):
        config = super().get_config()
        config.pop("synchronized", None)
        config["cross_replica"] = self.cross_replica
        return config

    def call(self, inputs, training=None, mask=None):
        training = bool(training) and self.trainable
        if self._can_fuse(inputs, mask, training):
            return self._fused_call(inputs, training)
        return super().call(inputs, training=training, mask=mask)

    def _can_fuse(self, inputs, mask, training):
        if keras.backend.backend() != "tensorflow" or mask is not None or self.renorm:
            return False
        rank = len(inputs.shape)
        if rank < 2 or self.axis not in (-1, rank - 1):
            return False
        if keras.backend.standardize_dtype(inputs.dtype) not in _FUSED_DTYPES:
            return False
        if training and self.synchronized:
            import tensorflow as tf

            replica_context = tf.distribute.get_replica_context()
            return replica_context is None or replica_context.num_replicas_in_sync == 1
        return True

    def _fused_call(self, inputs, training):
        """`FusedBatchNormV3` on `[N, H, W, C]` (other ranks reshaped); see the module docstring."""
        import tensorflow as tf

        channels = inputs.shape[-1]
        x = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, [-1, 1, 1, channels])
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels], "float32")
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels], "float32")
        if training:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            # The kernel returns the Bessel-corrected variance; Keras keeps the biased one.
            count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), "float32")
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum)
            )
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
            )
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        if len(inputs.shape) != 4:
            y = tf.reshape(y, tf.shape(inputs))
            y.set_shape(inputs.shape)
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class ImageNormalization(keras.layers.Layer):
    """Fixed per-channel standardisation `(x - mean) / std`; no trainable state.

    The encoders' input contract is float RGB in [0, 1]; this layer maps it to the ImageNet
    statistics the networks are trained with. Its dtype policy defaults to float32 (not the
    global policy), so the [0, 1] input is not rounded to float16 before it is standardised;
    the next layer casts to its own compute dtype.

    Args:
      mean: per-channel means, a sequence of length C (default: ImageNet RGB).
      std: per-channel standard deviations, all > 0, length C (default: ImageNet RGB).

    Input/output: `[..., C]`.
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        mean = self._as_floats(mean, "mean")
        std = self._as_floats(std, "std")
        if len(mean) != len(std):
            raise ValueError(
                f"`mean` and `std` must have one entry per channel and the same length; got "
                f"{len(mean)} and {len(std)}"
            )
        if any(not s > 0 for s in std):
            raise ValueError(f"every entry of `std` must be > 0, got {std}")
        self.mean = mean
        self.std = std
        self.supports_masking = True

    @staticmethod
    def _as_floats(values, name):
        try:
            values = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must be a sequence of floats, got {values!r}") from None
        if not values:
            raise ValueError(f"`{name}` must not be empty")
        return values

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels != len(self.mean):
            raise ValueError(
                f"ImageNormalization has {len(self.mean)} channel statistics but the input has "
                f"{channels} channels (input shape {tuple(input_shape)})"
            )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean = ops.convert_to_tensor(self.mean, "float32")
        inv_std = ops.convert_to_tensor([1.0 / s for s in self.std], "float32")
        return ops.cast((x - mean) * inv_std, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": list(self.mean), "std": list(self.std)})
        return config
