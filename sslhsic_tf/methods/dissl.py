"""DISSL (Dubois et al., 2022): distillation ISSL; teacher and student share one encoder, no EMA."""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("dissl")
class DISSL(SSLModel):
    """DISSL training model.

    Multi-crop: the first `num_global_views` views are the global crops the teacher sees; the
    student sees all views. Args (besides `SSLModel`'s): num_clusters C (16,384), lam (2.3),
    beta (0.8 TinyImageNet, 0.6 ImageNet), teacher_temperature (0.5), student_temperature (1.0),
    teacher_hidden (1024), bottleneck (512), num_global_views (2).
    """

    method_metrics = ("distillation", "marginal_entropy", "teacher_cross_entropy")
    # The TinyImageNet recipe: Adam(W) 2e-3 at batch 256, weight decay 1e-6, cosine with 10/300
    # warmup, gradient clipping 2.
    optimizer_defaults = {**SSLModel.optimizer_defaults, "name": "adamw",
                          "base_learning_rate": 2e-3, "weight_decay": 1e-6,
                          "warmup_fraction": 10 / 300, "clipnorm": 2.0}
    test_kwargs = {"num_clusters": 32, "teacher_hidden": 16, "bottleneck": 8}

    def __init__(self, encoder, *, num_clusters=16384, lam=2.3, beta=0.8, teacher_temperature=0.5,
                 student_temperature=1.0, teacher_hidden=1024, bottleneck=512, num_global_views=2,
                 **kwargs):
        self.num_clusters = int(num_clusters)
        self.lam = float(lam)
        self.beta = float(beta)
        self.teacher_temperature = float(teacher_temperature)
        self.student_temperature = float(student_temperature)
        self.teacher_hidden = int(teacher_hidden)
        self.bottleneck = int(bottleneck)
        self.num_global_views = int(num_global_views)
        if self.num_global_views < 1:
            raise ValueError(f"num_global_views must be >= 1; got {num_global_views}")
        super().__init__(encoder, **kwargs)

    def build_heads(self):
        f = self.feature_dim
        self.teacher = heads.dissl_teacher(num_clusters=self.num_clusters, hidden_dim=self.teacher_hidden,
                                           bottleneck_dim=self.bottleneck, name="teacher")
        self.teacher.build((None, f))
        self.student = heads.dissl_student(num_clusters=self.num_clusters, bottleneck_dim=self.bottleneck,
                                           name="student")
        self.student.build((None, f))

    def head_outputs(self, views, features, constants, training):
        g = self.num_global_views
        return {
            "teacher": ops.stack([self.teacher(h, training=training) for h in features[:g]], 0),
            "student": ops.stack([self.student(h, training=training) for h in features], 0),
        }

    def objective(self, outputs, seed):
        return objectives.dissl_loss(
            outputs["teacher"], outputs["student"], lam=self.lam, beta=self.beta,
            teacher_temperature=self.teacher_temperature,
            student_temperature=self.student_temperature,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "num_clusters": self.num_clusters,
            "lam": self.lam,
            "beta": self.beta,
            "teacher_temperature": self.teacher_temperature,
            "student_temperature": self.student_temperature,
            "teacher_hidden": self.teacher_hidden,
            "bottleneck": self.bottleneck,
            "num_global_views": self.num_global_views,
        }
