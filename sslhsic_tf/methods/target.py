"""EMA copies of online networks: the BYOL-style target network and its cosine tau schedule.

objectives.md, "BYOL target network":
  θ_target ← τ·θ_target + (1 − τ)·θ_online after each step,
  τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2, K = total steps.
"""

import math

import keras
from keras import ops


def tau_schedule(step, total_steps, tau_base):
    """Cosine EMA decay at `step` of `total_steps`: τ_base at step 0, rising to 1 at the end."""
    step = ops.cast(step, "float32")
    progress = ops.minimum(step / float(total_steps), 1.0)
    return 1.0 - (1.0 - tau_base) * (ops.cos(math.pi * progress) + 1.0) / 2.0


def clone_frozen(layer, input_shape=None):
    """A copy of `layer` with the same weights whose variables the optimizer never sees.

    The copy keeps `layer.trainable = True`, so its BatchNorm layers still normalise with batch
    statistics in training mode (BYOL runs its target in training mode), but every variable is
    marked `trainable = False`, so it is absent from `model.trainable_variables` (no gradient,
    no weight decay) and present in `model.non_trainable_variables` (checkpointed, and carried
    in the JAX state).
    """
    if isinstance(layer, keras.Model) and not _is_subclassed(layer):
        copy = keras.models.clone_model(layer)
    else:
        copy = layer.__class__.from_config(layer.get_config())
        if input_shape is not None:
            copy.build(input_shape)
    copy.set_weights(layer.get_weights())
    freeze_variables(copy)
    return copy


def _is_subclassed(model):
    return not (
        isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)
        or model.__class__.__name__ == "Functional"
    )


def freeze_variables(layer):
    """Marks every variable of `layer` non-trainable while leaving the layer in training mode."""
    for v in layer.variables:
        v.trainable = False


def ema_update(target_variables, online_variables, tau):
    """target ← tau·target + (1 − tau)·online, variable by variable (values must align 1:1).

    Under tf.distribute every replica holds identical online weights after the (all-reduced)
    update and computes the same new value, so a per-replica assign keeps the mirrors equal.
    """
    if len(target_variables) != len(online_variables):
        raise ValueError(
            f"target and online networks differ: {len(target_variables)} vs "
            f"{len(online_variables)} variables"
        )
    for t, o in zip(target_variables, online_variables):
        tau_t = ops.cast(tau, t.dtype)
        t.assign(tau_t * t + (1.0 - tau_t) * ops.cast(o, t.dtype))


class EmaTarget:
    """Mixin of the methods with a BYOL-style target network (BYOL, SSL-HSIC with target).

    Expects `encoder`, `projector`, `tau_base`, `total_steps` on the model; `build_target()` makes
    `target_encoder` and `target_projector` (attributes of the model, so Keras saves them), and
    `momentum_pairs()` hands both pairs to `SSLModel.finish_step`'s EMA.
    """

    def build_target(self):
        self.target_encoder = clone_frozen(self.encoder)
        self.target_projector = clone_frozen(self.projector, (None, self.feature_dim))

    def target_projections(self, views):
        """The target's projection of every view, `[V, b, D]` (BN in training mode, no gradient)."""
        return ops.stack(
            [self.target_projector(self.target_encoder(v, training=True), training=True)
             for v in views], axis=0)

    def tau(self):
        """τ of the current step."""
        return tau_schedule(self.optimizer.iterations, self.total_steps, self.tau_base)

    def momentum_pairs(self):
        return [(self.encoder, self.target_encoder), (self.projector, self.target_projector)]

    def momentum(self):
        """τ of the step just applied (apply() has incremented the step counter)."""
        return tau_schedule(self.optimizer.iterations - 1, self.total_steps, self.tau_base)
