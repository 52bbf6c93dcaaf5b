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

Excluded variables (biases and normalisation parameters) get neither the weight decay nor the
trust ratio, only the momentum step. They are chosen BY VARIABLE IDENTITY: pass
`exclude=lars_exclusions(model)` (or call `optimizer.exclude_variables(...)` before the
optimizer is built). Names are not used: Keras 3 `Variable.name` is the short name, so name
substrings such as "bias" silently stop matching.

Persistence. Identities do not survive `.keras` save/load or a process restart, so when the
optimizer is built it records the exclusions as *positions* in the variable list it was built
with, and `get_config` writes them (`exclude={"num_variables": N, "positions": [...]}`). A
reloaded optimizer that is built on the same list (what `compile_from_config` does with
`model.trainable_variables`, whose order is deterministic for a given architecture, and the
same assumption Keras makes when it restores optimizer slots by position) re-establishes the
same set. An owner may instead re-apply `exclude_variables(lars_exclusions(model))` before the
build; exclusions given by identity always take precedence over recorded positions. Building a
recorded optimizer on a list of a different length raises a ValueError.
"""

import warnings

import keras
from keras import ops

from sslhsic_tf.utils import backend

_NORM_LAYERS = tuple(
    getattr(keras.layers, cls)
    for cls in (
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization"
    )
    if hasattr(keras.layers, cls)
)
# The affine parameters of those layers (RMSNormalization calls its gain `scale`; on the
# others `scale`/`center` are bools and are skipped by the variable check).
_NORM_ATTRIBUTES = ("gamma", "beta", "scale", "bias")


def _is_variable(obj):
    return isinstance(obj, keras.Variable)


def lars_exclusions(model):
    """Returns the variables LARS must neither decay nor adapt: biases and normalisation params.

    Walks every layer of `model` (a `keras.layers.Layer`/`keras.Model`, or a list of them),
    nested layers included, and collects
    - the affine parameters (gamma/beta, or RMSNormalization's scale) of normalisation layers:
      BatchNormalization and its subclasses such as `sslhsic_tf.models.BatchNorm`,
      LayerNormalization, GroupNormalization, RMSNormalization;
    - the `bias` variable of any other layer that has one (Dense, Conv*, EinsumDense, ...).

    The decision is made by the layer type and attribute that owns each variable, never by
    its name. Returns a list without duplicates, in layer order.
    """
    roots = model if isinstance(model, (list, tuple)) else [model]
    out, seen = [], set()
    for root in roots:
        if not isinstance(root, keras.layers.Layer):
            raise TypeError(
                f"`model` must be a keras Layer/Model or a list of them, got {type(root).__name__}"
            )
        for layer in backend.flatten_layers(root):
            attributes = _NORM_ATTRIBUTES if isinstance(layer, _NORM_LAYERS) else ("bias",)
            candidates = [getattr(layer, a, None) for a in attributes]
            candidates = [v for v in candidates if _is_variable(v)]
            for v in candidates:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
    return out


def _check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {value!r}")
    if not value >= 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling with momentum (see the module docstring for the update).

    Args:
      learning_rate: float, `LearningRateSchedule` (e.g. `WarmupCosine`) or callable.
      momentum: m in [0, 1) (recipe 0.9).
      trust_coefficient: η > 0 (recipe 1e-3).
      weight_decay: wd >= 0 (recipe 1e-6), coupled to the gradient before the trust ratio
        (not Keras' decoupled decay).
      exclude: variables to exclude from decay and adaptation (e.g. `lars_exclusions(model)`),
        or the recorded form `{"num_variables": N, "positions": [...]}` written by `get_config`.
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
        self._excluded_keys = None  # identity exclusions (var keys), None if never given
        self._recorded_exclusions = None  # {"num_variables", "positions"} from a config
        self._adapt = None  # per built position: True = decay + trust ratio
        if isinstance(exclude, dict):
            self._recorded_exclusions = self._check_record(exclude)
        elif exclude is not None:
            self.exclude_variables(exclude)

    @staticmethod
    def _check_record(record):
        if set(record) != {"num_variables", "positions"}:
            raise ValueError(
                "`exclude` as a dict must be the recorded form {'num_variables': N, "
                f"'positions': [...]}} written by LARS.get_config, got keys {sorted(record)}"
            )
        n = record["num_variables"]
        positions = [int(p) for p in record["positions"]]
        if any(p < 0 or p >= n for p in positions):
            raise ValueError(
                f"recorded exclusion positions {positions} out of range for {n} variables"
            )
        return {"num_variables": int(n), "positions": sorted(set(positions))}

    def exclude_variables(self, variables):
        """Excludes `variables` (by identity) from weight decay and trust-ratio adaptation.

        Must be called before the optimizer is built; adds to earlier exclusions. Variables
        this optimizer never updates may be passed too (they are ignored), so the whole
        `lars_exclusions(model)` can be given to an optimizer of one partition.
        """
        if self.built:
            raise ValueError(
                f"LARS '{self.name}': exclusions must be set before the optimizer is built "
                "(it decides per variable at build time)"
            )
        if _is_variable(variables):
            variables = [variables]
        keys = set() if self._excluded_keys is None else set(self._excluded_keys)
        for v in variables:
            if not (_is_variable(v) or hasattr(v, "assign")):
                raise TypeError(
                    f"`variables` must be Keras/backend variables, got {type(v).__name__}"
                )
            keys.add(self._var_key(v))
        self._excluded_keys = keys

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras' name-based hook, redirected: LARS excludes by identity only."""
        if var_names:
            raise ValueError(
                "LARS excludes variables by identity, not by name (`var_names` is not "
                "supported); use `exclude_variables(lars_exclusions(model))`"
            )
        if var_list:
            self.exclude_variables(var_list)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        n = len(var_list)
        if self._excluded_keys is not None:
            adapt = [self._var_key(v) not in self._excluded_keys for v in var_list]
        elif self._recorded_exclusions is not None:
            recorded = self._recorded_exclusions
            if recorded["num_variables"] != n:
                raise ValueError(
                    f"LARS '{self.name}' was saved with exclusions recorded for "
                    f"{recorded['num_variables']} variables but is being built on {n}; build "
                    "it on the same variable list (e.g. model.trainable_variables of the same "
                    "architecture) or set exclusions with exclude_variables() before building"
                )
            excluded = set(recorded["positions"])
            adapt = [i not in excluded for i in range(n)]
        else:
            adapt = [True] * n
        self._adapt = adapt

    @property
    def adapted_variables(self):
        """The built variables that get weight decay and the trust ratio (after `build`)."""
        self._require_built()
        return [v for v, a in zip(self._trainable_variables, self._adapt) if a]

    @property
    def excluded_variables(self):
        """The built variables excluded from weight decay and the trust ratio (after `build`)."""
        self._require_built()
        return [v for v, a in zip(self._trainable_variables, self._adapt) if not a]

    def _require_built(self):
        if not self.built:
            raise ValueError(f"LARS '{self.name}' is not built yet; call build(variables) first")

    def _apply_weight_decay(self, variables):
        # Weight decay is part of the LARS update (before the trust ratio), not Keras'
        # decoupled decay applied by the base class.
        return

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        velocity = self._momentums[index]
        if self._adapt[index]:
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
        config.update(
            {
                "momentum": self.momentum,
                "trust_coefficient": self.trust_coefficient,
                "exclude": self._exclusion_record(),
            }
        )
        return config

    def _exclusion_record(self):
        if self.built:
            return {
                "num_variables": len(self._adapt),
                "positions": [i for i, a in enumerate(self._adapt) if not a],
            }
        if self._excluded_keys:
            warnings.warn(
                f"LARS '{self.name}' has exclusions given by variable identity but is not "
                "built, so its config cannot record them: build it (optimizer.build("
                "model.trainable_variables)) before saving, or re-apply exclude_variables() "
                "after loading.",
                stacklevel=3,
            )
        if self._recorded_exclusions is None:
            return None
        return {
            "num_variables": int(self._recorded_exclusions["num_variables"]),
            "positions": [int(p) for p in self._recorded_exclusions["positions"]],
        }
