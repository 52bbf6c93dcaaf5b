"""`PartitionedOptimizer`: one Keras optimizer that routes each variable to one of several.

Why. An SSL training step takes ONE gradient of (SSL loss + bandwidth loss + probe loss) —
stop-gradients keep the parts separate — and must update the encoder/heads with LARS (or
Adam/SGD), the kernel bandwidth with its own Adam (lr 3e-4, constant) and the online probe with
its own optimizer. Under the JAX backend Keras' stateless train step carries only
`model.optimizer`'s variables, so all of them must live in one optimizer. This is that
optimizer:

    opt = PartitionedOptimizer(
        default=LARS(WarmupCosine(...), exclude=lars_exclusions(model)),
        bandwidth=keras.optimizers.Adam(3e-4),
        probe=keras.optimizers.Adam(1e-3),
    )
    opt.assign_partition("bandwidth", [model.log_bandwidth])   # by identity, before build
    opt.assign_partition("probe", model.probe.trainable_variables)
    model.compile(optimizer=opt)                               # unassigned -> `default`

Semantics.
- `apply(grads, variables)` hands each partition's (gradient, variable) pairs to its own
  optimizer's `apply`, so every sub-optimizer keeps its full behaviour (clipping, EMA,
  gradient accumulation, its schedule on its own iteration count, tf.distribute all-reduce).
- Every step advances every sub-optimizer's `iterations` by one, also a partition with no
  gradient this step (all None, e.g. a frozen probe) or no variable at all: its update is
  skipped but its counter still moves, so all schedules stay on the same step.
  `iterations` is the step count (equal to each sub-optimizer's).
- `learning_rate` is the default optimizer's (what callbacks and logs see).
- `variables` is this optimizer's own followed by every sub-optimizer's (default first, then
  the named ones in sorted order), so `.keras` files, `tf.train.Checkpoint` and the JAX
  stateless path (`stateless_apply`) see all the state.
- It can be wrapped by `keras.optimizers.LossScaleOptimizer` (what `compile` does under
  `mixed_float16`); the sub-optimizers must not set `loss_scale_factor` themselves.

Persistence of the routing. Identities do not survive a reload, so at build time the routing is
recorded as positions in the built variable list, and `get_config` writes it (`routing=
{"num_variables": N, "partitions": {name: [positions]}}`). A reloaded optimizer built on the
same list (what `compile_from_config` does with `model.trainable_variables`, whose order is
deterministic for a given architecture; Keras itself restores optimizer slots by position)
routes the same variables to the same partitions. Assignments made by identity with
`assign_partition` before the build take precedence over a recorded routing.

Create the sub-optimizers and this optimizer under the same `strategy.scope()` (as for any
Keras optimizer under tf.distribute).
"""

import warnings

import keras

from sslhsic_tf.optim.exclusions import check_recorded_length
from sslhsic_tf.utils import backend

_RESERVED = ("default", "name", "routing")


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class PartitionedOptimizer(keras.optimizers.Optimizer):
    """Routes each variable to one of several sub-optimizers (see the module docstring).

    Args:
      default: the optimizer for every variable not assigned elsewhere.
      name: this optimizer's name.
      routing: the recorded routing written by `get_config` (for deserialisation; leave None).
      **optimizers: named partitions, `partition_name=optimizer` (names are Python
        identifiers other than "default", "name", "routing").
    """

    def __init__(self, default, name="partitioned", routing=None, **optimizers):
        subs = {"default": default, **{k: optimizers[k] for k in sorted(optimizers)}}
        seen = {}
        for part, opt in subs.items():
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise TypeError(
                    f"partition '{part}' must be a keras.optimizers.Optimizer instance, got "
                    f"{type(opt).__name__}"
                )
            if part != "default" and (not part.isidentifier() or part in _RESERVED):
                raise ValueError(
                    f"partition names must be identifiers other than {_RESERVED}, got {part!r}"
                )
            if isinstance(opt, keras.optimizers.LossScaleOptimizer):
                raise ValueError(
                    f"partition '{part}' is a LossScaleOptimizer; wrap the PartitionedOptimizer "
                    "in one instead (loss scaling must see the whole loss)"
                )
            if opt.loss_scale_factor is not None:
                raise ValueError(
                    f"partition '{part}' sets loss_scale_factor={opt.loss_scale_factor}; the "
                    "loss is scaled once for all partitions: wrap the PartitionedOptimizer in "
                    "a keras.optimizers.LossScaleOptimizer instead"
                )
            if opt.built:
                raise ValueError(
                    f"partition '{part}' is already built; pass unbuilt optimizers (the "
                    "PartitionedOptimizer builds each on its own variables)"
                )
            if id(opt) in seen:
                raise ValueError(
                    f"partitions '{seen[id(opt)]}' and '{part}' are the same optimizer object; "
                    "give each partition its own instance"
                )
            seen[id(opt)] = part
        super().__init__(learning_rate=0.0, name=name)
        strategy = getattr(self, "_distribution_strategy", None)
        for part, opt in subs.items():
            own = getattr(opt, "_distribution_strategy", strategy)
            if strategy is not None and own is not strategy:
                raise ValueError(
                    f"partition '{part}' was created under a different tf.distribute strategy "
                    "scope than the PartitionedOptimizer; create all of them in the same "
                    "strategy.scope()"
                )
        self._partition_names = list(subs)
        self._sub_optimizers = list(subs.values())
        self._assigned = {}  # var key -> partition index, from assign_partition
        self._recorded_routing = self._check_routing(routing) if routing is not None else None
        self._routing = None  # per built position: partition index

    # ----------------------------------------------------------------------------- routing
    def _check_routing(self, routing):
        if not isinstance(routing, dict) or set(routing) != {"num_variables", "partitions"}:
            raise ValueError(
                "`routing` must be the recorded form {'num_variables': N, 'partitions': "
                f"{{name: [positions]}}}} written by get_config, got {routing!r}"
            )
        n = int(routing["num_variables"])
        partitions = {}
        taken = set()
        for part, positions in routing["partitions"].items():
            if part not in self._partition_names:
                raise ValueError(
                    f"recorded routing names partition {part!r}, which this optimizer does not "
                    f"have (partitions: {self._partition_names})"
                )
            positions = [int(p) for p in positions]
            bad = [p for p in positions if p < 0 or p >= n or p in taken]
            if bad:
                raise ValueError(f"recorded routing has invalid or repeated positions {bad}")
            taken.update(positions)
            partitions[part] = positions
        return {"num_variables": n, "partitions": partitions}

    @property
    def partition_names(self):
        """Partition names: "default" first, then the named ones (sorted)."""
        return list(self._partition_names)

    @property
    def optimizers(self):
        """The sub-optimizers, "default" first (a list, as Keras callbacks such as TensorBoard
        expect of an `optimizers` attribute); `partition_optimizers` maps them by name."""
        return list(self._sub_optimizers)

    @property
    def partition_optimizers(self):
        """`{partition name: optimizer}`, "default" included."""
        return dict(zip(self._partition_names, self._sub_optimizers))

    def _partition_index(self, name):
        if name not in self._partition_names:
            raise ValueError(
                f"unknown partition {name!r}; this optimizer has {self._partition_names}"
            )
        return self._partition_names.index(name)

    def assign_partition(self, name, variables):
        """Routes `variables` (by identity) to partition `name`; call before the build.

        A variable may be assigned to one partition only; unassigned variables go to
        "default". Variables that turn out not to be in the built list are ignored.
        """
        index = self._partition_index(name)
        if self.built:
            raise ValueError(
                f"PartitionedOptimizer '{self.name}' is already built; assign partitions "
                "before building it (before compile/fit or the first apply)"
            )
        if isinstance(variables, keras.Variable):
            variables = [variables]
        for v in variables:
            if not (isinstance(v, keras.Variable) or hasattr(v, "assign")):
                raise TypeError(f"`variables` must be variables, got {type(v).__name__}")
            key = self._var_key(v)
            previous = self._assigned.get(key)
            if previous is not None and previous != index:
                raise ValueError(
                    f"variable {getattr(v, 'path', v.name)} is already assigned to partition "
                    f"'{self._partition_names[previous]}', cannot also assign it to '{name}'"
                )
            self._assigned[key] = index

    def _resolve_routing(self, var_list):
        n = len(var_list)
        if self._assigned:
            return [self._assigned.get(self._var_key(v), 0) for v in var_list]
        if self._recorded_routing is not None:
            recorded = self._recorded_routing
            check_recorded_length(self, "a routing", recorded["num_variables"], n,
                                  "call assign_partition()")
            routing = [0] * n
            for part, positions in recorded["partitions"].items():
                for p in positions:
                    routing[p] = self._partition_index(part)
            return routing
        return [0] * n

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        routing = self._resolve_routing(var_list)
        for k, opt in enumerate(self._sub_optimizers):
            subset = [v for v, r in zip(var_list, routing) if r == k]
            if subset:
                with keras.name_scope(opt.name, caller=opt):
                    opt.build(subset)
                opt.built = True
        super().build(var_list)
        self._routing = routing

    def partition_of(self, variable):
        """The partition name a built variable is routed to."""
        if not self.built:
            raise ValueError(f"PartitionedOptimizer '{self.name}' is not built yet")
        return self._partition_names[self._routing[self._get_variable_index(variable)]]

    def partition_variables(self, name):
        """The built variables routed to partition `name`."""
        index = self._partition_index(name)
        if not self.built:
            raise ValueError(f"PartitionedOptimizer '{self.name}' is not built yet")
        return [v for v, r in zip(self._trainable_variables, self._routing) if r == index]

    # ---------------------------------------------------------------------------- updates
    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built; call `optimizer.build(trainable_variables)` first"
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
                self.built = True
            self._check_variables_are_known(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"got {len(grads)} gradients for {len(trainable_variables)} variables; pass "
                "one gradient (or None) per variable"
            )
        buckets = [([], []) for _ in self._sub_optimizers]
        for g, v in zip(grads, trainable_variables):
            k = self._routing[self._get_variable_index(v)]
            buckets[k][0].append(g)
            buckets[k][1].append(v)
        for opt, (sub_grads, sub_vars) in zip(self._sub_optimizers, buckets):
            if any(g is not None for g in sub_grads):
                opt.apply(sub_grads, sub_vars)
            else:
                # Nothing to update in this partition this step; keep its step count (and so
                # its learning-rate schedule) in lockstep with the others.
                backend.increment_iterations(opt)
        backend.increment_iterations(self)

    def finalize_variable_values(self, var_list):
        buckets = [[] for _ in self._sub_optimizers]
        for v in var_list:
            key = self._var_key(v)
            if key in self._trainable_variables_indices:
                buckets[self._routing[self._trainable_variables_indices[key]]].append(v)
        for opt, subset in zip(self._sub_optimizers, buckets):
            if subset and opt.built:
                opt.finalize_variable_values(subset)

    @property
    def variables(self):
        out = list(self._variables)
        for opt in self._sub_optimizers:
            out.extend(opt.variables)
        return out

    @property
    def learning_rate(self):
        return self._sub_optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self._sub_optimizers[0].learning_rate = learning_rate

    # ---------------------------------------------------------------------- serialisation
    def get_config(self):
        config = {
            "name": self.name,
            "default": _serialize(self._sub_optimizers[0]),
            "optimizers": {
                part: _serialize(opt)
                for part, opt in zip(self._partition_names[1:], self._sub_optimizers[1:])
            },
            "routing": self._routing_record(),
        }
        return config

    def _routing_record(self):
        if self.built:
            partitions = {}
            for i, r in enumerate(self._routing):
                if r != 0:
                    partitions.setdefault(self._partition_names[r], []).append(i)
            return {"num_variables": len(self._routing), "partitions": partitions}
        if self._assigned:
            warnings.warn(
                f"PartitionedOptimizer '{self.name}' has partitions assigned by variable "
                "identity but is not built, so its config cannot record them: build it "
                "(optimizer.build(model.trainable_variables)) before saving, or call "
                "assign_partition() again after loading.",
                stacklevel=3,
            )
        if self._recorded_routing is None:
            return None
        return {
            "num_variables": self._recorded_routing["num_variables"],
            "partitions": {k: list(v) for k, v in self._recorded_routing["partitions"].items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        default = keras.saving.deserialize_keras_object(
            config.pop("default"), custom_objects=custom_objects
        )
        named = {
            part: keras.saving.deserialize_keras_object(c, custom_objects=custom_objects)
            for part, c in config.pop("optimizers", {}).items()
        }
        return cls(default, **config, **named)
