"""Projection / prediction heads and the online probe: `MLP` and factories with the papers' shapes.

Every head is an `MLP`: a stack of Dense layers, each optionally with a bias, `BatchNorm`
(cross-replica, momentum 0.9, epsilon 1e-5) and an activation, in that order. Input `[..., D]`,
output `[..., units[-1]]`.

Output dtype: the last Dense layer (and its BatchNorm) always computes in float32, whatever the
dtype policy, so heads return float32 under `mixed_float16`/`mixed_bfloat16` (the objectives
would cast to float32 anyway; doing it here also keeps the logits of the probe and of DISSL in
float32). Hidden layers follow the layer's policy.

Factories (sizes configurable; extra keyword arguments go to `MLP`, e.g. `name`,
`kernel_initializer`, `bn_momentum`):

| factory | shape |
|---|---|
| `byol_projector` | Linear D→4096 (bias) → BN → ReLU → Linear 4096→256 (no bias) |
| `byol_predictor` | same shape, 256→4096→256 (SSL-HSIC and BYOL) |
| `cissl_student` | probe family: Linear D→128 → BN (`probe="mlp"`: D→1024, BN, ReLU → 128 → BN) |
| `cissl_teacher` | Linear D→1024 → BN → ReLU → Linear 1024→128 → BN |
| `dissl_teacher` | Linear D→1024 → BN → ReLU → Linear 1024→512 → BN → Linear 512→C |
| `dissl_student` | low-rank: Linear D→512 → BN → Linear 512→C |
| `linear_probe` | Linear D→num_classes (the online probe) |

Biases: every Dense has one except the last layer of the BYOL projector/predictor (as in the
reference); a bias before BatchNorm is redundant but kept to match the published heads.
"""

import keras
from keras import ops

from sslhsic_tf.models.layers import BatchNorm


#: `MLP`'s initialisations: the Haiku reference's and PyTorch's `nn.Linear` default (lightly's heads).
INITS = ("haiku", "torch")


def _per_layer(value, name, num_layers, check):
    """Broadcasts a scalar to `num_layers` entries or validates a per-layer list."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        if len(values) != num_layers:
            raise ValueError(
                f"`{name}` must be a single value or a list with one entry per layer "
                f"({num_layers}), got {len(values)} entries: {value!r}"
            )
    else:
        values = [value] * num_layers
    for v in values:
        check(v, name)
    return values


def _check_bool(v, name):
    if not isinstance(v, bool):
        raise TypeError(f"`{name}` entries must be bools, got {v!r}")


def _check_activation(v, name):
    if v is not None and not isinstance(v, str):
        raise TypeError(
            f"`{name}` entries must be activation names (e.g. 'relu') or None, got {v!r}"
        )
    if v is not None:
        try:
            keras.activations.get(v)
        except ValueError:
            raise ValueError(f"`{name}` has an unknown activation {v!r}") from None


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class MLP(keras.layers.Layer):
    """A stack of `Dense [-> BatchNorm] [-> activation]` layers: `[..., D] -> [..., units[-1]]`.

    Args:
      units: list of output sizes, one per Dense layer (positive ints).
      use_bias: bool, or a list of bools (one per layer).
      batch_norm: bool, or a list of bools: BatchNorm after that layer's Dense.
      activation: activation name or None, or a list of them (one per layer).
      bn_momentum, bn_epsilon: BatchNorm parameters (recipe: 0.9, 1e-5).
      init: "haiku" (kernels truncated normal with variance 1/fan_in, zero biases: the Haiku
        reference code) or "torch" (PyTorch's `nn.Linear` default, as lightly's heads: kernels
        and biases uniform on +-1/sqrt(fan_in), a kernel variance of 1/(3 fan_in)).
      kernel_initializer: Dense kernel initialiser; overrides `init`'s for the kernels.
      **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    The last layer computes in float32 (see the module docstring).
    """

    def __init__(
        self,
        units,
        use_bias=True,
        batch_norm=False,
        activation=None,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        init="haiku",
        kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if init not in INITS:
            raise ValueError(
                f"`init` must be 'haiku' (truncated normal kernels, zero biases) or 'torch' "
                f"(PyTorch's nn.Linear default); got {init!r}"
            )
        self.init = init
        if isinstance(units, (int,)) and not isinstance(units, bool):
            units = [units]
        if not isinstance(units, (list, tuple)) or not units:
            raise ValueError(f"`units` must be a non-empty list of positive ints, got {units!r}")
        for u in units:
            if isinstance(u, bool) or not isinstance(u, int) or u < 1:
                raise ValueError(f"`units` must be a list of positive ints, got {units!r}")
        n = len(units)
        self.units = [int(u) for u in units]
        self.use_bias = _per_layer(use_bias, "use_bias", n, _check_bool)
        self.batch_norm = _per_layer(batch_norm, "batch_norm", n, _check_bool)
        self.activation = _per_layer(activation, "activation", n, _check_activation)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.VarianceScaling(
                scale=1.0 if init == "haiku" else 1.0 / 3.0,
                mode="fan_in",
                distribution="truncated_normal" if init == "haiku" else "uniform",
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        self.dense_layers = []
        self.norm_layers = []
        for i in range(n):
            dtype = "float32" if i == n - 1 else self.dtype_policy
            self.dense_layers.append(
                keras.layers.Dense(
                    self.units[i],
                    use_bias=self.use_bias[i],
                    kernel_initializer=keras.initializers.get(
                        keras.initializers.serialize(self.kernel_initializer)
                    ),
                    dtype=dtype,
                    name=f"dense_{i}",
                )
            )
            self.norm_layers.append(
                BatchNorm(momentum=bn_momentum, epsilon=bn_epsilon, dtype=dtype, name=f"bn_{i}")
                if self.batch_norm[i]
                else None
            )
        self._activations = [keras.activations.get(a) if a else None for a in self.activation]

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"MLP '{self.name}' needs inputs [..., D] with a known D, got shape "
                f"{tuple(input_shape)}"
            )
        shape = tuple(input_shape)
        for dense, norm in zip(self.dense_layers, self.norm_layers):
            if self.init == "torch" and dense.use_bias:  # its bound needs the fan-in
                bound = 1.0 / float(shape[-1]) ** 0.5
                dense.bias_initializer = keras.initializers.RandomUniform(-bound, bound)
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
            if norm is not None:
                norm.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        last = len(self.dense_layers) - 1
        for i, (dense, norm, act) in enumerate(
            zip(self.dense_layers, self.norm_layers, self._activations)
        ):
            if i == last:
                x = ops.cast(x, "float32")
            x = dense(x)
            if norm is not None:
                x = norm(x, training=training)
            if act is not None:
                x = act(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": list(self.units),
                "use_bias": list(self.use_bias),
                "batch_norm": list(self.batch_norm),
                "activation": list(self.activation),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
                "init": self.init,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


def _check_dim(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")
    return value


def byol_projector(hidden_dim=4096, output_dim=256, name="projector", output_bn=False, **kwargs):
    """BYOL / SSL-HSIC projector: Linear D→4096 (bias) → BN → ReLU → Linear 4096→256 (no bias),
    and with `output_bn` a BatchNorm on the output (each projection dimension centred and scaled
    over the batch before the L2 normalisation)."""
    _check_dim(hidden_dim, "hidden_dim")
    _check_dim(output_dim, "output_dim")
    _check_bool(output_bn, "output_bn")
    return MLP(
        [hidden_dim, output_dim],
        use_bias=[True, False],
        batch_norm=[True, output_bn],
        activation=["relu", None],
        name=name,
        **kwargs,
    )


def simclr_projector(hidden_dim=2048, output_dim=128, name="projector", **kwargs):
    """SimCLR (v2) projector: Linear D→hidden (no bias) → BN → ReLU → Linear →output (no bias)
    → BN, the form of lightly's `SimCLRProjectionHead` and solo-learn's CIFAR SimCLR. The
    output BatchNorm centres each projection dimension over the batch before the cosine."""
    _check_dim(hidden_dim, "hidden_dim")
    _check_dim(output_dim, "output_dim")
    return MLP(
        [hidden_dim, output_dim],
        use_bias=False,
        batch_norm=True,
        activation=["relu", None],
        name=name,
        **kwargs,
    )


def byol_predictor(hidden_dim=4096, output_dim=256, name="predictor", **kwargs):
    """BYOL / SSL-HSIC predictor: same shape as the projector, 256→4096→256."""
    return byol_projector(hidden_dim, output_dim, name=name, **kwargs)


def cissl_student(output_dim=128, probe="linear", hidden_dim=1024, name="student", **kwargs):
    """CISSL student projection, from the probe family, followed by BatchNorm.

    Args:
      output_dim: projection size (paper: 128).
      probe: "linear" (Linear D→output_dim → BN) or "mlp" (Linear D→hidden_dim → BN → ReLU →
        Linear →output_dim → BN).
      hidden_dim: hidden size of the "mlp" variant (ignored for "linear").
    """
    _check_dim(output_dim, "output_dim")
    if probe == "linear":
        return MLP([output_dim], use_bias=True, batch_norm=True, activation=None, name=name,
                   **kwargs)
    if probe == "mlp":
        _check_dim(hidden_dim, "hidden_dim")
        return MLP(
            [hidden_dim, output_dim],
            use_bias=True,
            batch_norm=True,
            activation=["relu", None],
            name=name,
            **kwargs,
        )
    raise ValueError(f"`probe` must be 'linear' or 'mlp', got {probe!r}")


def cissl_teacher(hidden_dim=1024, output_dim=128, name="teacher", **kwargs):
    """CISSL teacher: Linear D→1024 → BN → ReLU → Linear 1024→128 → BN."""
    _check_dim(hidden_dim, "hidden_dim")
    _check_dim(output_dim, "output_dim")
    return MLP(
        [hidden_dim, output_dim],
        use_bias=True,
        batch_norm=True,
        activation=["relu", None],
        name=name,
        **kwargs,
    )


def dissl_teacher(num_clusters=16384, hidden_dim=1024, bottleneck_dim=512, name="teacher",
                  **kwargs):
    """DISSL teacher: Linear D→1024 → BN → ReLU → Linear 1024→512 → BN → Linear 512→C (logits)."""
    _check_dim(num_clusters, "num_clusters")
    _check_dim(hidden_dim, "hidden_dim")
    _check_dim(bottleneck_dim, "bottleneck_dim")
    return MLP(
        [hidden_dim, bottleneck_dim, num_clusters],
        use_bias=True,
        batch_norm=[True, True, False],
        activation=["relu", None, None],
        name=name,
        **kwargs,
    )


def dissl_student(num_clusters=16384, bottleneck_dim=512, name="student", **kwargs):
    """DISSL low-rank student: Linear D→512 → BN → Linear 512→C (logits)."""
    _check_dim(num_clusters, "num_clusters")
    _check_dim(bottleneck_dim, "bottleneck_dim")
    return MLP(
        [bottleneck_dim, num_clusters],
        use_bias=True,
        batch_norm=[True, False],
        activation=None,
        name=name,
        **kwargs,
    )


def linear_probe(num_classes, name="linear_probe", **kwargs):
    """The online linear probe: Linear D→num_classes with bias, float32 logits."""
    _check_dim(num_classes, "num_classes")
    return MLP([num_classes], use_bias=True, batch_norm=False, activation=None, name=name,
               **kwargs)
