"""Variables an optimizer leaves out of its weight decay (LARS: also out of the trust ratio).

`norm_and_bias_variables(model)` picks biases and normalisation parameters BY VARIABLE IDENTITY
(names are not used: Keras 3 `Variable.name` is the short name, so substrings such as "bias"
silently stop matching). `VariableExclusions` is the bookkeeping LARS and CoupledSGD share:

- `exclude_norm_and_bias=True` asks the owner (`SSLModel.compile`) to exclude
  `norm_and_bias_variables(model)` before the optimizer is built;
- `exclude_variables(variables)` excludes any variables by identity, before the build;
- identities do not survive `.keras` save/load or a process restart, so the build records the
  exclusions as *positions* in the variable list, `get_config` writes them (`exclude=
  {"num_variables": N, "positions": [...]}`), and an optimizer built again on the same list
  (what `compile_from_config` does with `model.trainable_variables`, whose order is
  deterministic for an architecture: the assumption Keras makes when it restores slots by
  position) re-establishes the same set. Exclusions given by identity take precedence over
  recorded positions; a recorded optimizer built on a list of another length raises.
"""

import warnings

import keras

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


def norm_and_bias_variables(model):
    """Returns the biases and normalisation parameters of `model`, the variables that the LARS
    recipe neither decays nor adapts (and CoupledSGD with `exclude_norm_and_bias` does not decay).

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


#: The name LARS users know (the LARS exclusions are exactly these variables).
lars_exclusions = norm_and_bias_variables


def check_recorded_length(optimizer, what, recorded, n, fix):
    """Raises if state recorded by position for `recorded` variables is built on `n` of them."""
    if recorded != n:
        raise ValueError(
            f"{type(optimizer).__name__} '{optimizer.name}' was saved with {what} for {recorded} "
            f"variables but is being built on {n}; build it on the same variable list "
            f"(model.trainable_variables of the same architecture) or {fix} before building")


class VariableExclusions:
    """Mixin for a `keras.optimizers.Optimizer`: per-variable exclusions by identity, recorded
    as positions at build time (module docstring). The owner calls `_init_exclusions` in its
    `__init__`, `_build_exclusions(var_list)` in its `build`, tests `self._included(variable)`
    in its update and adds `_exclusion_config()` to its config."""

    def _init_exclusions(self, exclude, exclude_norm_and_bias):
        if not isinstance(exclude_norm_and_bias, bool):
            raise TypeError(
                f"`exclude_norm_and_bias` must be True or False, got {exclude_norm_and_bias!r}")
        self.exclude_norm_and_bias = exclude_norm_and_bias
        self._excluded_keys = None  # identity exclusions (var keys), None if never given
        self._recorded_exclusions = None  # {"num_variables", "positions"} from a config
        self._inclusion = None  # per built position: True = decayed (LARS: and adapted)
        if isinstance(exclude, dict):
            self._recorded_exclusions = self._check_record(exclude)
        elif exclude is not None:
            self.exclude_variables(exclude)

    @staticmethod
    def _check_record(record):
        if set(record) != {"num_variables", "positions"}:
            raise ValueError(
                "`exclude` as a dict must be the recorded form {'num_variables': N, "
                f"'positions': [...]}} written by get_config, got keys {sorted(record)}"
            )
        n = record["num_variables"]
        positions = [int(p) for p in record["positions"]]
        if any(p < 0 or p >= n for p in positions):
            raise ValueError(
                f"recorded exclusion positions {positions} out of range for {n} variables"
            )
        return {"num_variables": int(n), "positions": sorted(set(positions))}

    def exclude_variables(self, variables):
        """Excludes `variables` (by identity); see the class docstring for what that means.

        Must be called before the optimizer is built; adds to earlier exclusions. Variables
        this optimizer never updates may be passed too (they are ignored), so the whole
        `norm_and_bias_variables(model)` can be given to an optimizer of one partition.
        """
        if self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': exclusions must be set before the "
                "optimizer is built (it decides per variable at build time)"
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
        """Keras' name-based hook, redirected: exclusions are by identity only."""
        if var_names:
            raise ValueError(
                f"{type(self).__name__} excludes variables by identity, not by name (`var_names` "
                "is not supported); use `exclude_variables(norm_and_bias_variables(model))`"
            )
        if var_list:
            self.exclude_variables(var_list)

    def _build_exclusions(self, var_list):
        n = len(var_list)
        if self._excluded_keys is not None:
            inclusion = [self._var_key(v) not in self._excluded_keys for v in var_list]
        elif self._recorded_exclusions is not None:
            recorded = self._recorded_exclusions
            check_recorded_length(self, "exclusions recorded", recorded["num_variables"], n,
                                  "set exclusions with exclude_variables()")
            excluded = set(recorded["positions"])
            inclusion = [i not in excluded for i in range(n)]
        else:
            inclusion = [True] * n
        self._inclusion = inclusion

    def _included(self, variable):
        """Whether `variable` (built) is decayed (LARS: and adapted)."""
        return self._inclusion[self._get_variable_index(variable)]

    def _require_built(self):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' is not built yet; call "
                "build(variables) first")

    @property
    def excluded_variables(self):
        """The built variables excluded (no weight decay; LARS: no trust ratio), after `build`."""
        self._require_built()
        return [v for v, a in zip(self._trainable_variables, self._inclusion) if not a]

    @property
    def included_variables(self):
        """The built variables that get the weight decay (LARS: and the trust ratio)."""
        self._require_built()
        return [v for v, a in zip(self._trainable_variables, self._inclusion) if a]

    def _exclusion_config(self):
        return {"exclude": self._exclusion_record(),
                "exclude_norm_and_bias": self.exclude_norm_and_bias}

    def _exclusion_record(self):
        if self.built:
            return {
                "num_variables": len(self._inclusion),
                "positions": [i for i, a in enumerate(self._inclusion) if not a],
            }
        if self._excluded_keys:
            warnings.warn(
                f"{type(self).__name__} '{self.name}' has exclusions given by variable identity "
                "but is not built, so its config cannot record them: build it (optimizer.build("
                "model.trainable_variables)) before saving, or re-apply exclude_variables() "
                "after loading.",
                stacklevel=4,
            )
        if self._recorded_exclusions is None:
            return None
        return {
            "num_variables": int(self._recorded_exclusions["num_variables"]),
            "positions": [int(p) for p in self._recorded_exclusions["positions"]],
        }
