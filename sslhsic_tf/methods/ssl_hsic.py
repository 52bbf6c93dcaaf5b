"""SSL-HSIC (Li et al., 2021), with or without a BYOL-style target network.

With a target: two crops per image give M = 2V lists
`[pred_online(v1), pred_online(v2), stopgrad(proj_target(v2)), stopgrad(proj_target(v1))]`;
without: M = V lists `[proj_online(v1), proj_online(v2)]`. The kernel bandwidth c is learned by
its own objective (mean log slope of the kernel; parametrised as log c, Adam 3e-4).
"""

import math

import keras
from keras import ops

from sslhsic_tf import objectives
from sslhsic_tf.methods import target as target_lib
from sslhsic_tf.methods.base import SSLModel
from sslhsic_tf.methods.registry import register
from sslhsic_tf.models import heads


@keras.saving.register_keras_serializable(package="sslhsic_tf")
@register("ssl_hsic")
@register("ssl_hsic_no_target", use_target=False, projector_output_bn=True)
class SSLHSIC(target_lib.EmaTarget, SSLModel):
    """SSL-HSIC training model.

    Args (besides `SSLModel`'s):
      use_target: BYOL-style EMA target network and predictor (the paper's main variant).
      kernel: "imq" (paper), "gaussian" or "linear".
      num_features: random Fourier features (512 in the reference); None for exact kernels.
      gamma: weight of sqrt(HSIC(Z, Z)).
      learn_bandwidth: learn c by the log-slope objective (True) or keep `initial_bandwidth`.
      initial_bandwidth: c at step 0 (1.0).
      bandwidth_points: points resampled per side for the bandwidth objective (1024).
      bandwidth_learning_rate: the bandwidth's own Adam (3e-4, constant, in the reference; a
        run of a few hundred steps needs about 1e-2).
      tau_base: EMA decay at step 0 (0.99 in the reference).
      projector_hidden, projection_dim, predictor_hidden: head sizes (4096, 256, 4096).
      projector_output_bn: BatchNorm on the projector's output (centres each projection dimension
        over the batch before the L2 normalisation; what keeps the no-target variant from
        collapsing; docs/no_target_collapse.md).
    """

    test_kwargs = {"projector_hidden": 16, "projection_dim": 8, "predictor_hidden": 16,
                   "num_features": None}

    @property
    def method_metrics(self):
        names = ("hsic_zy", "hsic_zz", "bandwidth")
        names += ("bandwidth_loss",) if self.learn_bandwidth else ()
        return names + (("tau",) if self.use_target else ())

    def __init__(
        self,
        encoder,
        *,
        use_target=True,
        kernel="imq",
        num_features=512,
        gamma=3.0,
        learn_bandwidth=True,
        initial_bandwidth=1.0,
        bandwidth_points=1024,
        bandwidth_learning_rate=3e-4,
        tau_base=0.99,
        projector_hidden=4096,
        projection_dim=256,
        predictor_hidden=4096,
        projector_output_bn=False,
        **kwargs,
    ):
        if kernel not in ("imq", "gaussian", "linear"):
            raise ValueError(f"kernel must be 'imq', 'gaussian' or 'linear'; got {kernel!r}")
        if kernel == "linear" and learn_bandwidth:
            learn_bandwidth = False  # the linear kernel has no bandwidth
        if not initial_bandwidth > 0:
            raise ValueError(f"initial_bandwidth must be > 0; got {initial_bandwidth}")
        if not 0.0 <= tau_base <= 1.0:
            raise ValueError(f"tau_base must be in [0, 1]; got {tau_base}")
        self.use_target = bool(use_target)
        self.kernel = kernel
        self.num_features = None if num_features is None else int(num_features)
        self.gamma = float(gamma)
        self.learn_bandwidth = bool(learn_bandwidth)
        self.initial_bandwidth = float(initial_bandwidth)
        self.bandwidth_points = None if bandwidth_points is None else int(bandwidth_points)
        if not bandwidth_learning_rate > 0:
            raise ValueError(f"bandwidth_learning_rate must be > 0; got {bandwidth_learning_rate}")
        self.bandwidth_learning_rate = float(bandwidth_learning_rate)
        self.tau_base = float(tau_base)
        self.projector_hidden = int(projector_hidden)
        self.projection_dim = int(projection_dim)
        self.predictor_hidden = int(predictor_hidden)
        if not isinstance(projector_output_bn, bool):
            raise TypeError(f"projector_output_bn must be a bool; got {projector_output_bn!r}")
        self.projector_output_bn = projector_output_bn
        self._num_lists = None
        super().__init__(encoder, **kwargs)
        if self.use_target and self.total_steps is None:
            raise ValueError(
                "ssl_hsic with a target network needs total_steps (the EMA tau schedule runs "
                "over the whole training); pass total_steps=..."
            )

    def build_heads(self):
        f, d = self.feature_dim, self.projection_dim
        self.projector = heads.byol_projector(hidden_dim=self.projector_hidden, output_dim=d,
                                              output_bn=self.projector_output_bn,
                                              name="projector")
        self.projector.build((None, f))
        if self.use_target:
            self.predictor = heads.byol_predictor(hidden_dim=self.predictor_hidden, output_dim=d,
                                              name="predictor")
            self.predictor.build((None, d))
            self.build_target()
        self.log_bandwidth = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(self.initial_bandwidth)),
            trainable=self.learn_bandwidth,
            name="log_bandwidth",
        )

    def sub_optimizers(self):
        return {**super().sub_optimizers(),
                "bandwidth": keras.optimizers.Adam(self.bandwidth_learning_rate)}

    def partitions(self):
        parts = super().partitions()
        parts["bandwidth"] = [self.log_bandwidth] if self.learn_bandwidth else []
        return parts

    def constants(self, views, seed):
        if not self.use_target:
            return {}
        # Listed in reverse, [t(v2), t(v1)], as the reference orders the M = 4 lists.
        return {"target": ops.flip(self.target_projections(views), axis=0)}

    def head_outputs(self, views, features, constants, training):
        z = [self.projector(h, training=training) for h in features]
        if not self.use_target:
            return {"views": ops.stack(z, axis=0)}
        q = [self.predictor(zp, training=training) for zp in z]
        return {"online": ops.stack(q, axis=0), "target": constants["target"]}

    def _views(self, outputs):
        if not self.use_target:
            return outputs["views"]
        online = ops.cast(outputs["online"], "float32")
        return ops.concatenate([online, ops.cast(outputs["target"], "float32")], axis=0)

    def bandwidth(self):
        return ops.exp(ops.cast(self.log_bandwidth, "float32"))

    def collapse_indicators(self):
        # HSIC(Z, Y) = 1/(M - 1) exactly when every point maps to one place (objectives.md);
        # M is known once the step has been traced (4 with a target and 2 crops, else 2).
        indicators = super().collapse_indicators()
        if self._num_lists:
            indicators["hsic_zy"] = (1.0 / (self._num_lists - 1), 2e-3)
        return indicators

    def objective(self, outputs, seed):
        self._num_lists = int(self._views(outputs).shape[0])
        terms = objectives.ssl_hsic_loss(
            self._views(outputs),
            kernel=self.kernel,
            bandwidth=self.bandwidth(),
            gamma=self.gamma,
            num_features=self.num_features,
            seed=seed,
        )
        terms = dict(terms)
        terms["bandwidth"] = self.bandwidth()
        if self.use_target:
            terms["tau"] = self.tau()
        return terms

    def auxiliary_losses(self, outputs, seed):
        if not self.learn_bandwidth:
            return {}
        from sslhsic_tf.utils import random as rng

        views = ops.stop_gradient(self._views(outputs))
        j = objectives.bandwidth_objective(
            views,
            self.bandwidth(),
            kernel=self.kernel,
            num_points=self.bandwidth_points,
            seed=rng.stateless_seed(seed, 7),
        )
        return {"bandwidth_loss": -j}

    def momentum_pairs(self):
        return super().momentum_pairs() if self.use_target else []

    def get_config(self):
        return {
            **super().get_config(),
            "use_target": self.use_target,
            "kernel": self.kernel,
            "num_features": self.num_features,
            "gamma": self.gamma,
            "learn_bandwidth": self.learn_bandwidth,
            "initial_bandwidth": self.initial_bandwidth,
            "bandwidth_points": self.bandwidth_points,
            "bandwidth_learning_rate": self.bandwidth_learning_rate,
            "tau_base": self.tau_base,
            "projector_hidden": self.projector_hidden,
            "projection_dim": self.projection_dim,
            "predictor_hidden": self.predictor_hidden,
            "projector_output_bn": self.projector_output_bn,
        }
