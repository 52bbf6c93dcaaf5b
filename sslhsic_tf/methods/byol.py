"""BYOL (Grill et al., 2020): predict the EMA target's projection of the other view."""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods import target as target_lib
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("byol")
class BYOL(target_lib.EmaTarget, SSLModel):
    """BYOL training model (two views).

    Args (besides `SSLModel`'s): tau_base (0.996, BYOL's default), projector_hidden (4096),
    projection_dim (256), predictor_hidden (4096).
    """

    method_metrics = ("tau",)
    max_views = 2
    test_kwargs = {"projector_hidden": 16, "projection_dim": 8, "predictor_hidden": 16}

    def __init__(self, encoder, *, tau_base=0.996, projector_hidden=4096, projection_dim=256,
                 predictor_hidden=4096, **kwargs):
        if not 0.0 <= tau_base <= 1.0:
            raise ValueError(f"tau_base must be in [0, 1]; got {tau_base}")
        self.tau_base = float(tau_base)
        self.projector_hidden = int(projector_hidden)
        self.projection_dim = int(projection_dim)
        self.predictor_hidden = int(predictor_hidden)
        super().__init__(encoder, **kwargs)
        if self.total_steps is None:
            raise ValueError("byol needs total_steps (the EMA tau schedule); pass total_steps=...")

    def build_heads(self):
        f, d = self.feature_dim, self.projection_dim
        self.projector = heads.byol_projector(hidden_dim=self.projector_hidden, output_dim=d,
                                              name="projector")
        self.projector.build((None, f))
        self.predictor = heads.byol_predictor(hidden_dim=self.predictor_hidden, output_dim=d,
                                              name="predictor")
        self.predictor.build((None, d))
        self.build_target()

    def constants(self, views, seed):
        return {"target": self.target_projections(views)}

    def head_outputs(self, views, features, constants, training):
        q = [self.predictor(self.projector(h, training=training), training=training)
             for h in features]
        return {"online": ops.stack(q, axis=0), "target": constants["target"]}

    def objective(self, outputs, seed):
        loss = objectives.byol_loss(outputs["online"], outputs["target"])
        return {"loss": loss, "tau": self.tau()}

    def get_config(self):
        return {
            **super().get_config(),
            "tau_base": self.tau_base,
            "projector_hidden": self.projector_hidden,
            "projection_dim": self.projection_dim,
            "predictor_hidden": self.predictor_hidden,
        }
