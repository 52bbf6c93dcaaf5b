"""SwAV (Caron et al., 2020): swapped assignments between views, multi-crop.

Every crop goes through the encoder and a projector, is L2-normalised and scored against K
prototypes (unit vectors, re-normalised after every step in `after_apply`); the codes of the
first `num_global_views` crops (Sinkhorn-Knopp on the global batch, epsilon 0.05, 3 iterations)
are predicted from every other crop (temperature 0.1). The prototypes take no gradient during
the first `freeze_prototypes_fraction` of training (the paper's first epoch). With
`queue_length` > 0, the global crops' projections of the last steps are kept in a queue whose
scores join the Sinkhorn normalisation once it is full (the paper's small-batch setting).
"""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads
from sslhsic_tf.objectives._numerics import l2_normalize


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("swav")
class SwAV(SSLModel):
    """SwAV training model.

    Args (besides `SSLModel`'s): num_prototypes K (3000), projector_hidden (2048),
    projection_dim (128), temperature (0.1), epsilon (0.05), sinkhorn_iterations (3),
    num_global_views (2), freeze_prototypes_fraction (0.01: the first of 100 epochs),
    queue_length (0: no queue; the paper uses 3840 below batch 256).
    The default optimizer is the paper's: LARS, lr 0.6 x batch/256 (4.8 at 4096), weight decay
    1e-6, trust 1e-3, 10 warmup epochs of 100 (the paper: 10 of 800).
    """

    method_metrics = ("code_entropy", "prototype_usage_entropy")
    optimizer_defaults = {**SSLModel.optimizer_defaults, "base_learning_rate": 0.6,
                          "weight_decay": 1e-6, "warmup_fraction": 0.1}
    test_kwargs = {"num_prototypes": 12, "projector_hidden": 16, "projection_dim": 8}

    def __init__(self, encoder, *, num_prototypes=3000, projector_hidden=2048, projection_dim=128,
                 temperature=0.1, epsilon=0.05, sinkhorn_iterations=3, num_global_views=2,
                 freeze_prototypes_fraction=0.01, queue_length=0, **kwargs):
        for name, value in (("temperature", temperature), ("epsilon", epsilon)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0; got {value}")
        if not 0.0 <= freeze_prototypes_fraction <= 1.0:
            raise ValueError(f"freeze_prototypes_fraction must be in [0, 1]; got "
                             f"{freeze_prototypes_fraction}")
        for name, value, low in (("sinkhorn_iterations", sinkhorn_iterations, 1),
                                 ("num_global_views", num_global_views, 1),
                                 ("queue_length", queue_length, 0)):
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value}")
        self.num_prototypes = int(num_prototypes)
        self.projector_hidden, self.projection_dim = int(projector_hidden), int(projection_dim)
        self.temperature, self.epsilon = float(temperature), float(epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.num_global_views = int(num_global_views)
        self.freeze_prototypes_fraction = float(freeze_prototypes_fraction)
        self.queue_length = int(queue_length)
        super().__init__(encoder, **kwargs)
        if self.total_steps is None and self.freeze_prototypes_fraction > 0:
            raise ValueError("swav needs total_steps (the prototypes are frozen for the first "
                             "freeze_prototypes_fraction of it); pass total_steps=...")

    def build_heads(self):
        self.projector = heads.MLP([self.projector_hidden, self.projection_dim],
                                   batch_norm=[True, False], activation=["relu", None],
                                   name="projector")
        self.projector.build((None, self.feature_dim))
        self.prototypes = self.add_weight(
            shape=(self.projection_dim, self.num_prototypes), name="prototypes", dtype="float32",
            initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "uniform"))
        self.prototypes.assign(l2_normalize(self.prototypes, axis=0))
        if self.queue_length:
            self.queue = self.add_weight(
                shape=(self.num_global_views, self.queue_length, self.projection_dim),
                initializer="zeros", trainable=False, name="queue", dtype="float32")
            self.queue_filled = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                name="queue_filled", dtype="float32")

    def _gate(self):
        frozen_until = self.freeze_prototypes_fraction * (self.total_steps or 0)
        return ops.cast(ops.cast(self.optimizer.iterations, "float32") >= frozen_until, "float32")

    def head_outputs(self, views, features, constants, training):
        c = self.prototypes
        c = ops.stop_gradient(c) + self._gate() * (c - ops.stop_gradient(c))
        z = [l2_normalize(ops.cast(self.projector(h, training=training), "float32"))
             for h in features]
        return {"scores": ops.stack([ops.matmul(zv, c) for zv in z], axis=0),
                "projections": ops.stack(z[: self.num_global_views], axis=0)}

    def objective(self, outputs, seed):
        args = (outputs["scores"], self.num_global_views, self.temperature, self.epsilon,
                self.sinkhorn_iterations)
        if not self.queue_length:
            return objectives.swav_loss(*args)
        # The queue's scores join the Sinkhorn normalisation once the queue is full; one branch
        # runs per step (a `where` over both would compute the loss twice).
        def with_queue():
            queued = ops.einsum("aqd,dk->aqk", ops.stop_gradient(self.queue),
                                ops.stop_gradient(self.prototypes))
            return objectives.swav_loss(*args, queue_scores=queued)

        return ops.cond(self.queue_filled >= 1.0, with_queue,
                        lambda: objectives.swav_loss(*args))

    def after_apply(self, outputs):
        self.prototypes.assign(l2_normalize(self.prototypes, axis=0))
        if self.queue_length:
            new = ops.concatenate([outputs["projections"], self.queue], axis=1)
            self.queue.assign(new[:, : self.queue_length])
            batch = ops.cast(ops.shape(outputs["projections"])[1], "float32")
            self.queue_filled.assign(ops.minimum(
                self.queue_filled + batch / float(self.queue_length), 1.0))

    def collapse_indicators(self):
        # Every image coded to the same prototype: the mean code is one-hot (entropy 0).
        return {**super().collapse_indicators(), "prototype_usage_entropy": (0.0, 0.05)}

    def get_config(self):
        return {
            **super().get_config(),
            "num_prototypes": self.num_prototypes, "projector_hidden": self.projector_hidden,
            "projection_dim": self.projection_dim, "temperature": self.temperature,
            "epsilon": self.epsilon, "sinkhorn_iterations": self.sinkhorn_iterations,
            "num_global_views": self.num_global_views,
            "freeze_prototypes_fraction": self.freeze_prototypes_fraction,
            "queue_length": self.queue_length,
        }
