"""SGD with momentum and weight decay coupled to the gradient (torch.optim.SGD's update), the
optimizer of the public CIFAR-10 benchmark recipes (lightly: lr 0.06 x batch/128, momentum 0.9,
weight decay 5e-4, cosine, no warmup).

Update for every variable w with gradient g, learning rate lr, momentum m, weight decay wd:

    g ← g + wd·w
    v ← m·v + g
    w ← w − lr·v

With `exclude_norm_and_bias=True`, biases and normalisation parameters get no weight decay, as
SimCLR's and BYOL's LARS recipes leave them (lightly's SGD benchmark decays every weight, which
shrinks BatchNorm's scale over a run: docs/long_runs.md). Exclusions are chosen by identity and
persist as LARS' do (`optim/exclusions.py`).

Keras' own `SGD(weight_decay=...)` decays decoupled (w ← w − lr·wd·w, outside the momentum),
which in the steady state is 1/(1 − m) = 10 times weaker at m = 0.9 than the same number here.
"""

import keras
from keras import ops

from sslhsic_tf.optim.exclusions import VariableExclusions


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class CoupledSGD(VariableExclusions, keras.optimizers.Optimizer):
    """SGD + momentum with L2 weight decay in the gradient (as torch), on every variable or on
    all but the biases and normalisation parameters.

    Args:
      learning_rate: float, `LearningRateSchedule` (e.g. `WarmupCosine`) or callable.
      momentum: m in [0, 1).
      weight_decay: wd >= 0, added to the gradient as wd·w before the momentum.
      exclude: variables to leave undecayed, or the recorded form written by `get_config`.
      exclude_norm_and_bias: whether `SSLModel.compile` leaves the model's biases and
        normalisation parameters undecayed (default False: torch.optim.SGD on every parameter).
      name, and the other `keras.optimizers.Optimizer` arguments (clipnorm, global_clipnorm, ...).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, weight_decay=0.0, exclude=None,
                 exclude_norm_and_bias=False, name="coupled_sgd", **kwargs):
        for key, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"`{key}` must be a number >= 0, got {value!r}")
        if not momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}")
        super().__init__(learning_rate=learning_rate, weight_decay=float(weight_decay),
                         name=name, **kwargs)
        self.momentum = float(momentum)
        self._init_exclusions(exclude, exclude_norm_and_bias)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._build_exclusions(var_list)

    def _apply_weight_decay(self, variables):
        # The decay is part of the gradient (update_step), not Keras' decoupled decay.
        return

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        g = ops.cast(gradient, dtype)
        if self.weight_decay and self._included(variable):
            g = g + ops.cast(self.weight_decay, dtype) * ops.convert_to_tensor(variable)
        velocity = self._momentums[self._get_variable_index(variable)]
        self.assign(velocity, ops.cast(self.momentum, dtype) * velocity + g)
        self.assign_sub(variable, ops.cast(learning_rate, dtype) * velocity)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, **self._exclusion_config()})
        return config
