"""LARS (You et al. 2017) as a Keras 3 optimizer, as used by BYOL and SSL-HSIC.

Update for each variable w with gradient g, learning rate lr, momentum m, trust coefficient η,
weight decay wd (recipe: m = 0.9, η = 1e-3, wd = 1e-6):

    adapted variables:   g ← g + wd·w
                         g ← g · η‖w‖/‖g‖      (trust ratio 1 when ‖w‖ = 0 or ‖g‖ = 0)
    every variable:      v ← m·v + lr·g
                         w ← w − v

The learning rate enters the velocity (the form of the BYOL reference code), so a change of the
learning rate affects only new gradients; this differs from `v ← m·v + g, w ← w − lr·v` while
the learning rate changes (warmup, cosine decay) and is the same for a constant rate.
Norms are Frobenius norms of the whole variable, computed in the variable's dtype.

Excluded variables (biases and normalisation parameters, `norm_and_bias_variables(model)`,
chosen by variable identity) get neither the weight decay nor the trust ratio, only the momentum
step: `SSLModel.compile` excludes them when `exclude_norm_and_bias` is True (the default, as
the BYOL and solo-learn recipes); `exclude_variables(...)` excludes others before the build.
How exclusions persist through `.keras` files: `optim/exclusions.py`.
"""

import keras
from keras import ops

from sslhsic_tf.optim.exclusions import VariableExclusions, lars_exclusions  # noqa: F401


def _check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {value!r}")
    if not value >= 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class LARS(VariableExclusions, keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling with momentum (see the module docstring for the update).

    Args:
      learning_rate: float, `LearningRateSchedule` (e.g. `WarmupCosine`) or callable.
      momentum: m in [0, 1) (recipe 0.9).
      trust_coefficient: η > 0 (recipe 1e-3).
      weight_decay: wd >= 0 (recipe 1e-6), coupled to the gradient before the trust ratio
        (not Keras' decoupled decay).
      exclude: variables to exclude from decay and adaptation (e.g. `lars_exclusions(model)`),
        or the recorded form `{"num_variables": N, "positions": [...]}` written by `get_config`.
      exclude_norm_and_bias: whether `SSLModel.compile` excludes the model's biases and
        normalisation parameters (default True, the recipe).
      name, and the other `keras.optimizers.Optimizer` arguments (clipnorm, global_clipnorm,
        use_ema, loss_scale_factor, gradient_accumulation_steps, ...).
    """

    def __init__(
        self,
        learning_rate=0.1,
        momentum=0.9,
        trust_coefficient=1e-3,
        weight_decay=1e-6,
        exclude=None,
        exclude_norm_and_bias=True,
        name="lars",
        **kwargs,
    ):
        momentum = _check_nonneg(momentum, "momentum")
        if not momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}")
        trust_coefficient = _check_nonneg(trust_coefficient, "trust_coefficient")
        if trust_coefficient == 0:
            raise ValueError("`trust_coefficient` must be > 0, got 0")
        weight_decay = _check_nonneg(weight_decay, "weight_decay")
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self.momentum = momentum
        self.trust_coefficient = trust_coefficient
        self._init_exclusions(exclude, exclude_norm_and_bias)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._build_exclusions(var_list)

    @property
    def adapted_variables(self):
        """The built variables that get weight decay and the trust ratio (after `build`)."""
        return self.included_variables

    def _apply_weight_decay(self, variables):
        # Weight decay is part of the LARS update (before the trust ratio), not Keras'
        # decoupled decay applied by the base class.
        return

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        velocity = self._momentums[self._get_variable_index(variable)]
        if self._included(variable):
            w = ops.convert_to_tensor(variable)
            g = g + ops.cast(self.weight_decay, dtype) * w
            w_norm = ops.sqrt(ops.sum(ops.square(w)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            positive = ops.logical_and(w_norm > 0, g_norm > 0)
            safe_g_norm = ops.where(positive, g_norm, ops.ones_like(g_norm))
            ratio = ops.where(
                positive,
                ops.cast(self.trust_coefficient, dtype) * w_norm / safe_g_norm,
                ops.ones_like(g_norm),
            )
            g = g * ratio
        self.assign(velocity, ops.cast(self.momentum, dtype) * velocity + lr * g)
        self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "trust_coefficient": self.trust_coefficient,
                       **self._exclusion_config()})
        return config
