"""SimCLR (Chen et al., 2020): InfoNCE between the two views' projections."""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("simclr")
class SimCLR(SSLModel):
    """SimCLR training model.

    Args: temperature (0.1), projector_hidden (2048), projection_dim (128), projector_output_bn
    (True: SimCLR v2's projector with BatchNorm on its output, `heads.simclr_projector`; False:
    the BYOL-shaped projector with a bias and no output BatchNorm, `heads.byol_projector`),
    projector_init ("haiku": truncated normal kernels of variance 1/fan-in; "torch": PyTorch's
    `nn.Linear` default, as lightly's head; `heads.MLP`'s `init`).
    """

    max_views = 2
    test_kwargs = {"projector_hidden": 16, "projection_dim": 8}

    def __init__(self, encoder, *, temperature=0.1, projector_hidden=2048, projection_dim=128,
                 projector_output_bn=True, projector_init="haiku", **kwargs):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        if not isinstance(projector_output_bn, bool):
            raise TypeError(f"projector_output_bn must be a bool; got {projector_output_bn!r}")
        if projector_init not in heads.INITS:
            raise ValueError(f"projector_init must be 'haiku' or 'torch'; got {projector_init!r}")
        self.projector_output_bn = projector_output_bn
        self.projector_init = projector_init
        self.temperature = float(temperature)
        self.projector_hidden = int(projector_hidden)
        self.projection_dim = int(projection_dim)
        super().__init__(encoder, **kwargs)

    def build_heads(self):
        make = heads.simclr_projector if self.projector_output_bn else heads.byol_projector
        self.projector = make(
            hidden_dim=self.projector_hidden, output_dim=self.projection_dim, name="projector",
            init=self.projector_init,
        )
        self.projector.build((None, self.feature_dim))

    def head_outputs(self, views, features, constants, training):
        return {"views": ops.stack([self.projector(h, training=training) for h in features], 0)}

    def objective(self, outputs, seed):
        return {"loss": objectives.infonce_loss(outputs["views"], temperature=self.temperature)}

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "projector_hidden": self.projector_hidden,
            "projection_dim": self.projection_dim,
            "projector_output_bn": self.projector_output_bn,
            "projector_init": self.projector_init,
        }
