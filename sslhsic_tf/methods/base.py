"""The training model: one base class and the one train step every method shares.

A step, for a batch `{"views": (v1, ..., vV), "label": y}` (each view `[b, H, W, 3]`, the
per-replica batch):

1. *Prepare* (no gradient, `prepare_step`): optional pixel augmentation on the device, and the
   method's `constants` (the target network's outputs for methods that have one).
2. *Losses* (differentiated once, `step_losses`): encode every view with the online encoder
   (`training=True`), apply the heads, stack head outputs views-first `[M, b, D]`, gather them
   across replicas to the global `[M, B, D]` (`distribute.gather`), evaluate the method's
   objective on the global batch, add the auxiliary objectives (learned bandwidth, online probe
   on stop-gradient features), and scale for replicas (`distribute.replica_scale`).
3. *Apply*: one `PartitionedOptimizer` routes each gradient to its sub-optimizer (LARS or Adam
   for the networks, Adam for the bandwidth, the probe's own optimizer); stop-gradients keep the
   three objectives' gradients apart.
4. *Finish* (`finish_step(outputs)`): the EMA of every pair in `momentum_pairs()` at the
   method's `momentum()`, the method's `after_apply(outputs)` (e.g. a running centre of the
   step's head outputs), then the optional evaluation EMA of the encoder (`eval_ema_decay`).

Subclasses implement `build_heads`, `head_outputs` and `objective` (and optionally `constants`,
`auxiliary_losses`, `momentum_pairs`, `after_apply`), and state what they need as class
attributes (`optimizer_defaults`, `min_views`/`max_views`, `test_kwargs`); see `simclr.py` for
the shortest one. This file is backend-neutral: `tf_step.py` and `jax_step.py` run the public
step methods above (`unpack_batch`, `step_seed`, `prepare_step`, `step_losses`, `finish_step`,
`update_trackers`) in the same order.
"""

import keras
from keras import ops

from sslhsic_tf import distribute, optim
from sslhsic_tf.objectives._numerics import l2_normalize
from sslhsic_tf.utils import backend
from sslhsic_tf.utils import random as rng

PROBE_LOSS_WEIGHT = 1.0


def _layout_hint(shape):
    """The likely mistake behind a view that is not [B, H, W, 3], as a hint for the error."""
    if len(shape) == 4 and shape[1] == 3:
        return " (channels-first? transpose to [B, H, W, 3]: np.transpose(x, (0, 2, 3, 1)))"
    if len(shape) == 4 and shape[-1] == 1 or len(shape) == 3:
        return (" (grayscale? repeat the channel: np.repeat(x, 3, axis=-1) on [B, H, W, 1], "
                "or x[..., None].repeat(3, -1) on [B, H, W])")
    return ""


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(cfg):
    return keras.saving.deserialize_keras_object(cfg)


class SSLModel(keras.Model):
    """Base class of the training models; a `keras.Model` trained with `fit()`.

    Args:
      encoder: a `keras.Model` mapping images `[B, H, W, 3]` in [0, 1] to features `[B, F]`.
      num_classes: classes of the online linear probe (None: no probe).
      total_steps: the run's length in optimizer steps (schedules, EMA τ).
      batch_size: the global batch size (the linear learning-rate scaling rule).
      seed: base of the per-step stateless seeds (random features, resampling, augmentation).
      device_augment: None, or a layer called as `layer(views, seed)` on the step's views before
        the networks, e.g. `sslhsic_tf.data.DeviceAugmentation(views)`: the pipeline's pixel stage
        (colour jitter, grayscale, blur, solarize) then runs inside the step, on the
        accelerator, for batches from a pipeline built with `pixel_stage="device"`.
        (`methods.create` also takes the views themselves, e.g. "cifar10", and builds it.)
      optimizer_config: dict overriding the method's default optimizer (see `default_optimizer`).
      probe_learning_rate: the online probe's Adam learning rate.
      eval_ema_decay: None, or the decay of an EMA copy of the online encoder that is evaluated
        and exported instead of it (the SSL-HSIC reference uses 0.999 over long runs).
    """

    #: Names of the extra metrics a method logs (besides the ones the base logs).
    method_metrics = ()
    #: The default optimizer settings (recipes.md; keys of `optim.OPTIMIZER_DEFAULTS`),
    #: overridden by `optimizer_config`.
    optimizer_defaults = dict(optim.OPTIMIZER_DEFAULTS)
    #: The number of views per image the method takes: at least `min_views`, at most
    #: `max_views` (None: any number, e.g. multi-crop).
    min_views = 2
    max_views = None
    #: Small head sizes that make a training step take well under a second in the tests
    #: (`tests/methods/common.py` builds every registered method with them).
    test_kwargs = {}

    def __init__(
        self,
        encoder,
        *,
        num_classes=None,
        total_steps=None,
        batch_size=256,
        seed=0,
        device_augment=None,
        optimizer_config=None,
        probe_learning_rate=1e-3,
        eval_ema_decay=None,
        log_norms=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise TypeError(f"encoder must be a keras.Model; got {type(encoder).__name__}")
        if encoder.output_shape is None or len(encoder.output_shape) != 2:
            raise ValueError(
                "encoder must map images [B, H, W, 3] to features [B, F]; its output shape is "
                f"{encoder.output_shape}"
            )
        if total_steps is not None and int(total_steps) < 1:
            raise ValueError(f"total_steps must be a positive integer; got {total_steps}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
        if num_classes is not None and int(num_classes) < 2:
            raise ValueError(f"num_classes must be None or >= 2; got {num_classes}")
        self.encoder = encoder
        self.feature_dim = int(encoder.output_shape[-1])
        self.num_classes = None if num_classes is None else int(num_classes)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        if device_augment is not None and not isinstance(device_augment, keras.layers.Layer):
            raise TypeError(
                f"device_augment must be None or a keras Layer called as layer(views, seed); got "
                f"{type(device_augment).__name__}: pass sslhsic_tf.data.DeviceAugmentation("
                f"{device_augment!r}), or the views to methods.create(..., device_augment=...)")
        self.device_augment = device_augment
        optim.check_settings(optimizer_config or {})
        self.optimizer_config = {**self.optimizer_defaults, **(optimizer_config or {})}
        self.probe_learning_rate = float(probe_learning_rate)
        if eval_ema_decay is not None and not 0.0 < eval_ema_decay < 1.0:
            raise ValueError(f"eval_ema_decay must be None or in (0, 1); got {eval_ema_decay}")
        self.eval_ema_decay = None if eval_ema_decay is None else float(eval_ema_decay)
        if not isinstance(log_norms, bool):
            raise TypeError(f"log_norms must be True or False; got {log_norms!r}")
        self.log_norms = log_norms

        self.build_heads()
        if self.eval_ema_decay is not None:
            from sslhsic_tf.methods import target

            self.eval_encoder = target.clone_frozen(self.encoder)
        if self.num_classes is not None:
            from sslhsic_tf.models import heads

            self.probe = heads.linear_probe(self.num_classes, name="online_probe")
            self.probe.build((None, self.feature_dim))
        else:
            self.probe = None
        names = ["loss", *self.method_metrics, "repr_std", "learning_rate"]
        if self.log_norms:
            names += ["grad_norm", "weight_norm"]
        if self.probe is not None:
            names += ["probe_loss", "probe_top1"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.built = True

    # ----------------------------------------------------------------- subclass interface
    def build_heads(self):
        """Creates and builds the heads (and target networks) of the method."""
        raise NotImplementedError

    def constants(self, views, seed):
        """Work without gradient before the loss (e.g. the target network's outputs): a dict of
        constants, passed to `head_outputs` (may be empty)."""
        return {}

    def head_outputs(self, views, features, constants, training):
        """Returns a dict name -> per-view outputs stacked views-first `[M, b, D]`."""
        raise NotImplementedError

    def objective(self, outputs, seed):
        """Returns a dict with `loss` (float32 scalar over the global batch) and logged parts."""
        raise NotImplementedError

    def auxiliary_losses(self, outputs, seed):
        """Extra global losses whose gradients touch only their own variables (e.g. the bandwidth)."""
        return {}

    def momentum_pairs(self):
        """`(online, target)` layer pairs updated as target <- m target + (1 - m) online after
        every optimizer step, m = `momentum()` (BYOL/DINO-style EMA networks). Default: none."""
        return []

    def momentum(self):
        """The EMA momentum m of the step just applied (needed when `momentum_pairs()` is not
        empty)."""
        raise NotImplementedError(f"{type(self).__name__} has momentum_pairs but no momentum()")

    def after_apply(self, outputs):
        """State updates after the optimizer step and the EMA pairs; `outputs` are the step's
        head outputs over the global batch (no gradient), e.g. for a running centre."""

    def collapse_indicators(self):
        """Logged values that sit at a known value when the representation collapses: name ->
        (collapsed value, tolerance). `repr_std` (the spread of the normalised features) is
        about 1 for spread features and 0 for a collapse (`training.callbacks.CollapseWarning`)."""
        return {"repr_std": (0.0, 0.05)}

    def sub_optimizers(self):
        """The named optimizers besides the default one: name -> optimizer."""
        return {"probe": keras.optimizers.Adam(self.probe_learning_rate)}

    def partitions(self):
        """Variables that go to a sub-optimizer other than the default: name -> list."""
        return {"probe": list(self.probe.trainable_variables) if self.probe is not None else []}

    # ------------------------------------------------------------------------ inference
    def call(self, images, training=False):
        """The online encoder's features `[B, F]`: `model.predict(images)` returns them."""
        if isinstance(images, dict):
            raise ValueError(
                "an SSL model is called (and predict()ed) on images [B, H, W, 3] and returns "
                "the encoder's features; got a batch dict: pass batch['views'][0], or use "
                "model.export_encoder() for the evaluated encoder"
            )
        return self.encoder(images, training=training)

    def test_step(self, data):
        raise ValueError(
            "SSL models have no evaluate(): measure the encoder with sslhsic_tf.evaluation "
            "(knn_evaluate, evaluate_encoder) or get its features with model.predict(images)"
        )

    def export_encoder(self):
        """The encoder to evaluate and export (its EMA copy with `eval_ema_decay`)."""
        return self.encoder if self.eval_ema_decay is None else self.eval_encoder

    def finish_step(self, outputs):
        """Everything after the optimizer step: the EMA pairs, the method's `after_apply`, the
        evaluation EMA."""
        from sslhsic_tf.methods import target

        pairs = self.momentum_pairs()
        if pairs:
            target.ema_update([v for _, t in pairs for v in t.variables],
                              [v for o, _ in pairs for v in o.variables], self.momentum())
        self.after_apply(outputs)
        if self.eval_ema_decay is not None:
            from sslhsic_tf.methods import target

            target.ema_update(self.eval_encoder.variables, self.encoder.variables,
                              self.eval_ema_decay)

    # ------------------------------------------------------------------------- compile
    def default_optimizer(self):
        """The method's optimizer (`optimizer_config`) with a warmup + cosine schedule."""
        return optim.build_optimizer(self.optimizer_config, self.total_steps, self.batch_size)

    def compile(self, optimizer=None, **kwargs):
        """Compiles with `optimizer` (default: the method's) wrapped in a `PartitionedOptimizer`.

        The probe gets Adam(probe_learning_rate) and SSL-HSIC's bandwidth Adam(3e-4)
        (`sub_optimizers`), unless `optimizer` is already a `PartitionedOptimizer`.
        """
        if kwargs.get("loss") is not None:
            raise ValueError("SSL models define their own objective; do not pass loss= to compile()")
        if optimizer is None:
            optimizer = self.default_optimizer()
        elif isinstance(optimizer, str):
            optimizer = keras.optimizers.get(optimizer)
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if not isinstance(inner, optim.PartitionedOptimizer):
            inner = optim.PartitionedOptimizer(default=inner, **self.sub_optimizers())
            optimizer = inner
        if not inner.built:
            for name, variables in self.partitions().items():
                if variables:
                    inner.assign_partition(name, variables)
            default = inner.partition_optimizers["default"]
            if getattr(default, "exclude_norm_and_bias", False):  # LARS, CoupledSGD
                default.exclude_variables(optim.norm_and_bias_variables(self))
        super().compile(optimizer=optimizer, **kwargs)
        # Built now (in the caller's strategy scope), so that checkpoints can be restored before
        # the first step and the step can read the routing.
        self.optimizer.build(self.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "optimizer": _serialize(self.optimizer),
            "jit_compile": self.jit_compile,
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config):
        """Restores the compiled state from a `.keras` file (optimizer, routing, exclusions)."""
        config = dict(config)
        if config.get("optimizer") is not None:
            config["optimizer"] = _deserialize(config["optimizer"])
        self.compile(**config)

    # ----------------------------------------------------------------------- the step
    def unpack_batch(self, data):
        """`(views, label)` of a batch, checked (one-line errors naming the fix).

        fit() passes the batch dict; train_on_batch(batch) passes (batch, None, None)."""
        # fit() passes the batch itself; train_on_batch(batch) passes (batch, None, None).
        if isinstance(data, (list, tuple)) and data and all(d is None for d in data[1:]):
            data = data[0]
        if not isinstance(data, dict) or "views" not in data:
            raise ValueError(
                "fit() expects batches {'views': (v1, v2, ...), 'label': y}; got "
                f"{type(data).__name__}{' with keys ' + str(sorted(data)) if isinstance(data, dict) else ''}"
            )
        if not isinstance(data["views"], (list, tuple)):
            raise TypeError(
                "batch['views'] must be a tuple of views, each [B, H, W, 3]; got "
                f"{type(data['views']).__name__}"
            )
        views = tuple(data["views"])
        if len(views) < self.min_views:
            raise ValueError(
                f"{self.__class__.__name__} needs at least {self.min_views} views per image; got "
                f"{len(views)}"
            )
        global_views = getattr(self, "num_global_views", None)  # multi-crop methods
        if global_views is not None and len(views) < global_views:
            raise ValueError(
                f"{type(self).__name__.lower()} has num_global_views={global_views} but the "
                f"batch has {len(views)} views"
            )
        if self.max_views is not None and len(views) > self.max_views:
            exactly = "exactly" if self.max_views == self.min_views else "at most"
            raise ValueError(
                f"{type(self).__name__.lower()} takes {exactly} {self.max_views} views per image; "
                f"got {len(views)}"
            )
        for p, v in enumerate(views):
            if len(v.shape) != 4 or v.shape[-1] != 3:
                raise ValueError(
                    f"views[{p}] must be images [B, H, W, 3]; got shape {tuple(v.shape)}"
                    + _layout_hint(v.shape)
                )
            dtype = keras.backend.standardize_dtype(v.dtype)
            if "float" not in dtype:
                raise ValueError(
                    f"views[{p}] must be float RGB in [0, 1]; got dtype {dtype} (scale uint8 "
                    "images by 1/255, or use sslhsic_tf.data pipelines)"
                )
        sizes = [v.shape[0] for v in views]
        known = {int(b) for b in sizes if b is not None}
        label = data.get("label")
        if label is not None:
            dtype = keras.backend.standardize_dtype(label.dtype)
            if "int" not in dtype or len(label.shape) not in (1, 2) or (
                len(label.shape) == 2 and label.shape[1] != 1
            ):
                raise TypeError(
                    "batch['label'] must be integer class indices [B] (-1 = unlabelled); got "
                    f"{dtype} of shape {tuple(label.shape)}"
                )
            if label.shape[0] is not None:
                sizes = sizes + [label.shape[0]]
                known.add(int(label.shape[0]))
        if len(known) > 1:
            raise ValueError(
                "the views (and label) of a batch must hold the same images: batch sizes "
                f"{[None if b is None else int(b) for b in sizes]} differ (views then label)"
            )
        return views, label

    def step_seed(self):
        """The stateless seed of this step: derived from (seed, optimizer iterations)."""
        return rng.stateless_seed(self.seed, self.optimizer.iterations)

    def prepare_step(self, views, seed):
        """`(views, constants)`: the pixel augmentation on the device (with `device_augment`),
        then the method's `constants`; no gradient flows through either."""
        if self.device_augment is not None:
            views = tuple(self.device_augment(views, rng.stateless_seed(seed, 1000)))
        return views, self.constants(views, seed)

    def step_losses(self, views, label, constants, seed, training=True):
        """`(the loss to differentiate, dict of logged global values, head outputs)`."""
        features = [self.encoder(v, training=training) for v in views]
        outputs = self.head_outputs(views, features, constants, training)
        outputs = {k: distribute.gather(v, axis=1) for k, v in outputs.items()}
        terms = dict(self.objective(outputs, seed))
        terms["learning_rate"] = self.optimizer.learning_rate
        total = terms["loss"]
        for name, value in self.auxiliary_losses(outputs, seed).items():
            total = total + value
            terms[name] = value

        rep = distribute.gather(ops.stop_gradient(ops.cast(features[0], "float32")), axis=0)
        terms["repr_std"] = ops.mean(ops.std(l2_normalize(rep), axis=0)) * (self.feature_dim ** 0.5)
        if self.probe is not None and label is not None:
            probe_loss, probe_top1 = self._probe_terms(rep, label)
            total = total + PROBE_LOSS_WEIGHT * probe_loss
            terms["probe_loss"] = probe_loss
            terms["probe_top1"] = probe_top1
        return distribute.replica_scale(total), terms, outputs

    def _probe_terms(self, rep, label):
        """Cross-entropy and top-1 of the online probe over the global batch (labels < 0 masked)."""
        label = distribute.gather(ops.reshape(ops.cast(label, "int32"), (-1,)), axis=0)
        logits = ops.cast(self.probe(rep), "float32")
        valid = ops.cast(label >= 0, "float32")
        safe = ops.where(label >= 0, label, 0)
        ce = keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        count = ops.maximum(ops.sum(valid), 1.0)
        loss = ops.sum(ce * valid) / count
        correct = ops.cast(ops.argmax(logits, axis=-1) == safe, "float32")
        return loss, ops.sum(correct * valid) / count

    def norm_terms(self, grads, values, loss_scale=None):
        """`{"grad_norm", "weight_norm"}` of a step where `log_norms` is on, else `{}`.

        grad_norm: the global norm of the gradient over the encoder's trainable variables (of the
        total loss; the probe sees stop-gradient features, so this is the objective's), divided
        by `loss_scale`; under tf.distribute pass the gradient summed over replicas
        (`distribute.sum_over_replicas`). weight_norm: the global norm of the encoder's kernels
        (variables of rank > 1) before the step. `grads` and `values` align with
        `self.trainable_variables`. With BatchNorm after every conv, an SGD step turns the
        kernels by about lr x grad_norm / weight_norm; LARS by lr x trust.
        """
        if not self.log_norms:
            return {}
        ids = {id(v) for v in self.encoder.trainable_variables}
        positions = [i for i, v in enumerate(self.trainable_variables) if id(v) in ids]

        def global_norm(tensors):
            return ops.sqrt(sum(ops.sum(ops.square(ops.cast(t, "float32"))) for t in tensors))

        grad_norm = global_norm([grads[i] for i in positions if grads[i] is not None])
        if loss_scale is not None:
            grad_norm = grad_norm / ops.cast(loss_scale, "float32")
        kernels = [values[i] for i in positions if len(values[i].shape) > 1]
        return {"grad_norm": grad_norm, "weight_norm": global_norm(kernels)}

    def update_trackers(self, terms):
        """Adds the step's terms to the running means Keras logs; returns the logs."""
        for name, tracker in self.trackers.items():
            if name in terms:
                tracker.update_state(ops.cast(terms[name], "float32"))
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, *args):
        if backend.is_jax():
            from sslhsic_tf.methods import jax_step

            return jax_step.train_step(self, *args)
        from sslhsic_tf.methods import tf_step

        return tf_step.train_step(self, *args)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras' TF trainer builds the model symbolically from a first batch, reducing it with
        # `strategy.reduce`, which MultiWorkerMirroredStrategy cannot do for the nested
        # {"views": (...)} batch. Every variable of an SSLModel (networks, heads, metrics, and
        # the optimizer, built in compile()) already exists, so there is nothing to build.
        if not (self.built and self.compiled and self.optimizer.built):
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # -------------------------------------------------------------------- serialisation
    def get_config(self):
        return {
            "name": self.name,
            "encoder": _serialize(self.encoder),
            "num_classes": self.num_classes,
            "total_steps": self.total_steps,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "device_augment": (None if self.device_augment is None
                               else _serialize(self.device_augment)),
            "optimizer_config": self.optimizer_config,
            "probe_learning_rate": self.probe_learning_rate,
            "eval_ema_decay": self.eval_ema_decay,
            "log_norms": self.log_norms,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = _deserialize(config["encoder"])
        from sslhsic_tf.methods import registry

        config["device_augment"] = registry.augmentation_layer(config.get("device_augment"))
        return cls(**config)
