"""CISSL (Dubois et al., 2022): contrastive ISSL with a probe-family student and an MLP teacher."""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads

@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("cissl")
class CISSL(SSLModel):
    """CISSL training model.

    Args (besides `SSLModel`'s): temperature (0.07, TinyImageNet; 0.1 ImageNet), output_dim
    (128), teacher_hidden (1024), student_probe ("linear", or "mlp" for an MLP probe).
    The default optimizer is the TinyImageNet recipe: Adam(W) 2e-3 at batch 512, weight decay
    1e-6, cosine with 10/300 warmup, gradient clipping 2.
    """

    optimizer_defaults = {**SSLModel.optimizer_defaults, "name": "adamw",
                          "base_learning_rate": 2e-3 * 256 / 512, "weight_decay": 1e-6,
                          "warmup_fraction": 10 / 300, "clipnorm": 2.0}
    test_kwargs = {"teacher_hidden": 16, "output_dim": 8}

    def __init__(self, encoder, *, temperature=0.07, output_dim=128, teacher_hidden=1024,
                 student_probe="linear", **kwargs):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.temperature = float(temperature)
        self.output_dim = int(output_dim)
        self.teacher_hidden = int(teacher_hidden)
        self.student_probe = student_probe
        super().__init__(encoder, **kwargs)

    def build_heads(self):
        f = self.feature_dim
        self.student = heads.cissl_student(output_dim=self.output_dim, probe=self.student_probe,
                                           name="student")
        self.student.build((None, f))
        self.teacher = heads.cissl_teacher(hidden_dim=self.teacher_hidden, output_dim=self.output_dim,
                                           name="teacher")
        self.teacher.build((None, f))

    def head_outputs(self, views, features, constants, training):
        return {
            "student": ops.stack([self.student(h, training=training) for h in features], 0),
            "teacher": ops.stack([self.teacher(h, training=training) for h in features], 0),
        }

    def objective(self, outputs, seed):
        return {"loss": objectives.cissl_loss(outputs["student"], outputs["teacher"],
                                              temperature=self.temperature)}

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "output_dim": self.output_dim,
            "teacher_hidden": self.teacher_hidden,
            "student_probe": self.student_probe,
        }
