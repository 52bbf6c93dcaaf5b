"""The config schema: every key a pretraining config has, with its default (`base()`), and the
options of a method as a config block (`method_kwargs`). The presets in `configs/` start from
`base()` and change only what differs; `config_checks` refuses keys outside it.

Fields:
  method, method_kwargs      methods.create(method, encoder, **method_kwargs)
  model                      models.resnet(**model)
  data.dataset               a source spec without its split ("demo", the default;
                             "tfds:cifar10", "cifar10_archive:PATH", "folder:DIR" with DIR/train
                             and DIR/test): data.train / data.test, where empty, are its splits;
                             given on the command line, it replaces the preset's train / test
                             (unless those are given too)
  data.train / data.test     source specs (sslhsic_tf.data.from_spec): "demo:train",
                             "cifar10_archive:PATH:train", "tfds:NAME:split", "folder:DIR", ...
  data.views / data.eval     augmentation presets (sslhsic_tf.data.PRESETS / EVAL_PRESETS)
  data.image_size            the size the encoder is trained and exported at
  data.on_device             JAX only: hold the decoded uint8 splits on the accelerator and
                             augment inside the jitted step, no TensorFlow needed
                             (training/device_loop.py; demo or cifar10_archive sources)
  budget.minutes             with data.on_device: a wall-clock budget from the command's start
                             (0: none); the schedules are fitted to the measured speed so that
                             they end with it; budget.reserve_seconds are kept for the weights,
                             the Keras files and kNN; budget.planned_images_per_second sizes the
                             schedules before the speed is known (plan high)
  batch_size                 global batch size
  epochs or total_steps      run length (total_steps wins when set): the length the learning
                             rate and EMA schedules are laid out over
  stop_after_epochs          0 (the whole run), or stop at the first checkpoint at or after this
                             many epochs, the schedules still those of the whole run (the first
                             epochs of a long run); resuming with a larger value (or 0) goes on
  optimizer                  overrides of the method's default optimizer (optim.OPTIMIZER_DEFAULTS:
                             name, base_learning_rate, weight_decay, momentum, trust_coefficient,
                             warmup_fraction, clipnorm, exclude_norm_and_bias: biases and
                             BatchNorm parameters out of the weight decay, default LARS yes, SGD no)
  checkpoint_every_steps     checkpoint interval (also the unit of Keras' progress "epochs")
  mixed_precision            "" (the global policy as it is), "float32", "mixed_bfloat16",
                             "mixed_float16" or "auto" (the CPU presets and the demo: the fastest
                             measured configuration of this CPU kind, utils/backend.auto_precision;
                             float32 on accelerators); results.json records what ran
  jit_compile                True, False or "auto" (Keras' choice; with mixed_precision="auto",
                             the CPU kind's)
  eval.protocols             protocols run at the end (knn, linear_lbfgs, linear_sgd, finetune, ...)
  eval.knn_every_steps       the kNN monitor's interval (0: none): knn_top1 in train_log.csv and
                             results.json's knn_curve
  eval.knn_at_start          with the monitor: also the kNN of the initial weights, the curve's
                             step 0 (measured once, before a new run's first step)
  export.name                the SavedModel's folder name (default METHOD_ENCODERNAME)
  export.saved_model         write the TF-Hub SavedModel export/NAME/ (TensorFlow backend); False
                             keeps model.keras and encoder.keras only (quick runs, ablations)
"""

import ml_collections
from ml_collections import config_dict

from sslhsic_tf import optim

_TYPES = {"num_features": int, "bandwidth_points": int}


def method_kwargs(method, **overrides):
    """Every option of `method` (`methods.options`), so that `--config.method_kwargs.KEY=VALUE`
    works for any of them and a misspelt key is an error."""
    from sslhsic_tf import methods

    out = methods.options(method)
    unknown = set(overrides) - set(out)
    if unknown:
        raise ValueError(f"method {method!r} has no option(s) {sorted(unknown)}")
    out.update(overrides)
    typed = {k: config_dict.placeholder(_TYPES.get(k, float)) if v is None else v
             for k, v in out.items()}
    return ml_collections.ConfigDict(typed)


def base():
    """The default config (the demo job): every key, with its default."""
    c = ml_collections.ConfigDict()
    c.method = "ssl_hsic"
    c.method_kwargs = method_kwargs("ssl_hsic")
    c.model = ml_collections.ConfigDict({"depth": 18, "width_multiplier": 1.0, "cifar_stem": True,
                                         "padding": "same"})
    c.data = ml_collections.ConfigDict({
        "dataset": "demo", "train": "", "test": "", "views": "cifar10",
        "eval": "cifar10",
        "image_size": 32, "on_device": False,
    })
    c.batch_size = 256
    c.epochs = 100.0
    c.total_steps = 0
    c.stop_after_epochs = 0.0
    c.optimizer = ml_collections.ConfigDict(
        {k: config_dict.placeholder(t) for k, t in optim.OPTIMIZER_TYPES.items()})
    c.budget = ml_collections.ConfigDict(
        {"minutes": 0.0, "reserve_seconds": 120.0, "planned_images_per_second": 40000.0})
    c.seed = 0
    c.checkpoint_every_steps = 500
    c.collapse_patience = 100  # steps at a collapse indicator's collapsed value before a warning
    c.keep_checkpoints = 3
    c.mixed_precision = ""
    c.jit_compile = "auto"
    c.eval = ml_collections.ConfigDict({
        "protocols": ("knn", "linear_lbfgs"), "knn_every_steps": 0, "knn_at_start": False,
        "baseline_random": True,
    })
    c.export = ml_collections.ConfigDict({"name": "", "saved_model": True})
    return c
