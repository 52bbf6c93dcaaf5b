"""DINO (Caron et al., 2021): self-distillation with no labels, multi-crop.

The student (encoder + `DinoHead`) sees every crop; the teacher, an EMA copy of both (momentum
0.996 -> 1 by cosine), sees the first `num_global_views` crops. The teacher's logits are
centred (a running mean over the global batch, momentum 0.9, updated in `after_apply` from the
step's outputs) and sharpened (temperature warmed linearly from 0.04 to 0.07 over the first
`teacher_temperature_warmup_fraction` of training); the student's temperature is 0.1. The
weight-normalised last layer takes no gradient during the first `freeze_last_layer_fraction` of
training (the paper's first epoch).
"""

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods import target as target_lib
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class DinoHead(keras.layers.Layer):
    """MLP D -> hidden -> hidden -> bottleneck (GELU), L2 normalisation, then a weight-normalised
    linear layer to `out_dim` logits (each output's weight vector has norm 1, no bias).

    `call(x, training, last_layer_gate)`: with gate 0 no gradient reaches the last layer (its
    output is unchanged); its weight decay only rescales the weights, which the weight
    normalisation undoes, so the layer is frozen exactly.
    """

    def __init__(self, out_dim=65536, hidden_dim=2048, bottleneck_dim=256, **kwargs):
        super().__init__(**kwargs)
        self.out_dim, self.hidden_dim, self.bottleneck_dim = (int(out_dim), int(hidden_dim),
                                                              int(bottleneck_dim))
        self.mlp = heads.MLP([self.hidden_dim, self.hidden_dim, self.bottleneck_dim],
                             activation=["gelu", "gelu", None], name="mlp")

    def build(self, input_shape):
        self.mlp.build(input_shape)
        self.last_layer = self.add_weight(
            shape=(self.bottleneck_dim, self.out_dim), name="last_layer", dtype="float32",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x, training=False, last_layer_gate=1.0):
        h = ops.cast(self.mlp(x, training=training), "float32")
        h = h / ops.sqrt(ops.maximum(ops.sum(h * h, axis=-1, keepdims=True), 1e-12))
        v = self.last_layer
        v = ops.stop_gradient(v) + last_layer_gate * (v - ops.stop_gradient(v))
        w = v / ops.sqrt(ops.maximum(ops.sum(v * v, axis=0, keepdims=True), 1e-12))
        return ops.matmul(h, w)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.out_dim)

    def get_config(self):
        return {**super().get_config(), "out_dim": self.out_dim, "hidden_dim": self.hidden_dim,
                "bottleneck_dim": self.bottleneck_dim}


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("dino")
class DINO(target_lib.EmaTarget, SSLModel):
    """DINO training model.

    Args (besides `SSLModel`'s): out_dim K (65,536), hidden_dim (2048), bottleneck_dim (256),
    tau_base (0.996), center_momentum (0.9), teacher_temperature (0.07, reached after the
    warmup from warmup_teacher_temperature 0.04), teacher_temperature_warmup_fraction (0.3: 30
    of 100 epochs), student_temperature (0.1), freeze_last_layer_fraction (0.01: the first of
    100 epochs), num_global_views (2; the teacher's crops, first in the batch).
    The default optimizer is the paper's ResNet-50 setting: LARS, lr 0.3 x batch/256, weight
    decay 1e-6 (biases and normalisation excluded), 10 warmup epochs of 100.
    """

    method_metrics = ("teacher_entropy", "teacher_marginal_entropy", "tau",
                      "teacher_temperature")
    optimizer_defaults = {**SSLModel.optimizer_defaults, "base_learning_rate": 0.3,
                          "weight_decay": 1e-6, "warmup_fraction": 0.1}
    test_kwargs = {"out_dim": 32, "hidden_dim": 16, "bottleneck_dim": 8}

    def __init__(self, encoder, *, out_dim=65536, hidden_dim=2048, bottleneck_dim=256,
                 tau_base=0.996, center_momentum=0.9, teacher_temperature=0.07,
                 warmup_teacher_temperature=0.04, teacher_temperature_warmup_fraction=0.3,
                 student_temperature=0.1, freeze_last_layer_fraction=0.01, num_global_views=2,
                 **kwargs):
        for name, value in (("tau_base", tau_base), ("center_momentum", center_momentum),
                            ("teacher_temperature_warmup_fraction",
                             teacher_temperature_warmup_fraction),
                            ("freeze_last_layer_fraction", freeze_last_layer_fraction)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {value}")
        for name, value in (("teacher_temperature", teacher_temperature),
                            ("warmup_teacher_temperature", warmup_teacher_temperature),
                            ("student_temperature", student_temperature)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0; got {value}")
        if int(num_global_views) < 1:
            raise ValueError(f"num_global_views must be >= 1; got {num_global_views}")
        self.out_dim, self.hidden_dim, self.bottleneck_dim = (int(out_dim), int(hidden_dim),
                                                              int(bottleneck_dim))
        self.tau_base = float(tau_base)
        self.center_momentum = float(center_momentum)
        self.teacher_temperature = float(teacher_temperature)
        self.warmup_teacher_temperature = float(warmup_teacher_temperature)
        self.teacher_temperature_warmup_fraction = float(teacher_temperature_warmup_fraction)
        self.student_temperature = float(student_temperature)
        self.freeze_last_layer_fraction = float(freeze_last_layer_fraction)
        self.num_global_views = int(num_global_views)
        super().__init__(encoder, **kwargs)
        if self.total_steps is None:
            raise ValueError("dino needs total_steps (the EMA momentum, teacher temperature and "
                             "last-layer freeze follow the training length); pass total_steps=...")

    def build_heads(self):
        self.projector = DinoHead(self.out_dim, self.hidden_dim, self.bottleneck_dim,
                                  name="dino_head")
        self.projector.build((None, self.feature_dim))
        self.build_target()
        self.center = self.add_weight(shape=(self.out_dim,), initializer="zeros",
                                      trainable=False, name="center", dtype="float32")

    def _step(self):
        return ops.cast(self.optimizer.iterations, "float32")

    def current_teacher_temperature(self):
        warmup = max(self.teacher_temperature_warmup_fraction * self.total_steps, 1.0)
        progress = ops.minimum(self._step() / warmup, 1.0)
        return self.warmup_teacher_temperature + progress * (
            self.teacher_temperature - self.warmup_teacher_temperature)

    def constants(self, views, seed):
        return {"teacher": self.target_projections(views[: self.num_global_views])}

    def head_outputs(self, views, features, constants, training):
        frozen_until = self.freeze_last_layer_fraction * self.total_steps
        gate = ops.cast(self._step() >= frozen_until, "float32")
        student = [self.projector(h, training=training, last_layer_gate=gate) for h in features]
        return {"student": ops.stack(student, axis=0), "teacher": constants["teacher"]}

    def objective(self, outputs, seed):
        temperature = self.current_teacher_temperature()
        terms = dict(objectives.dino_loss(outputs["teacher"], outputs["student"], self.center,
                                          temperature, self.student_temperature))
        terms.update({"tau": self.tau(), "teacher_temperature": temperature})
        return terms

    def after_apply(self, outputs):
        self.center.assign(objectives.dino_center_update(self.center, outputs["teacher"],
                                                         self.center_momentum))

    def collapse_indicators(self):
        # A one-hot teacher (every image in one of K outputs) has entropy 0 in both measures.
        return {**super().collapse_indicators(), "teacher_marginal_entropy": (0.0, 0.05)}

    def get_config(self):
        return {
            **super().get_config(),
            "out_dim": self.out_dim, "hidden_dim": self.hidden_dim,
            "bottleneck_dim": self.bottleneck_dim, "tau_base": self.tau_base,
            "center_momentum": self.center_momentum,
            "teacher_temperature": self.teacher_temperature,
            "warmup_teacher_temperature": self.warmup_teacher_temperature,
            "teacher_temperature_warmup_fraction": self.teacher_temperature_warmup_fraction,
            "student_temperature": self.student_temperature,
            "freeze_last_layer_fraction": self.freeze_last_layer_fraction,
            "num_global_views": self.num_global_views,
        }
