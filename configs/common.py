"""The base config every preset starts from; each preset changes only what differs.

Fields:
  method, method_kwargs      methods.create(method, encoder, **method_kwargs)
  model                      models.resnet(**model)
  data.dataset               a source spec without its split ("tfds:cifar10", "demo",
                             "cifar10_archive:PATH"): data.train / data.test, where empty, are it
                             + ":train" / ":test". The CIFAR-10 presets read "tfds:cifar10"; a
                             local copy is one override: --config.data.dataset=cifar10_archive:PATH
  data.train / data.test     source specs (sslhsic_tf.data.from_spec): "demo:train",
                             "cifar10_archive:PATH:train", "tfds:NAME:split", "folder:DIR", ...
  data.views / data.eval     augmentation presets (sslhsic_tf.data.PRESETS / EVAL_PRESETS)
  data.image_size            the size the encoder is trained and exported at
  batch_size                 global batch size
  epochs or total_steps      run length (total_steps wins when set)
  optimizer                  overrides of the method's default optimizer (name, base_learning_rate,
                             weight_decay, momentum, trust_coefficient, warmup_fraction, clipnorm)
  checkpoint_every_steps     checkpoint interval (also the unit of Keras' progress "epochs")
  eval.protocols             protocols run at the end (knn, linear_lbfgs, linear_sgd, finetune, ...)
"""

import inspect
import os

import ml_collections
from ml_collections import config_dict

#: The shared data folder beside a checkout (override with SSLHSIC_SHARED_DATA).
SHARED_DATA = os.environ.get(
    "SSLHSIC_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"),
)
CIFAR10_ARCHIVE = os.path.join(SHARED_DATA, "cifar10", "cifar10_jpeg_q75.tar.gz")


#: Optimizer keys a config may set; None keeps the method's default (SSLModel.optimizer_defaults).
OPTIMIZER_KEYS = {
    "name": str, "base_learning_rate": float, "weight_decay": float, "momentum": float,
    "trust_coefficient": float, "warmup_fraction": float, "clipnorm": float,
}


def method_kwargs(method, **overrides):
    """Every option of `method` (its constructor's keyword arguments with their defaults), so that
    `--config.method_kwargs.KEY=VALUE` works for any of them and a misspelt key is an error."""
    from sslhsic_tf import methods

    methods.names()
    cls, registered = methods.registry._REGISTRY[method]
    out = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras"):
            break
        for name, p in inspect.signature(klass.__init__).parameters.items():
            if p.kind is p.KEYWORD_ONLY and name not in _TOP_LEVEL and name not in out:
                out[name] = p.default
    out.update(registered)
    unknown = set(overrides) - set(out)
    if unknown:
        raise ValueError(f"method {method!r} has no option(s) {sorted(unknown)}")
    out.update(overrides)
    typed = {k: config_dict.placeholder(_TYPES.get(k, float)) if v is None else v
             for k, v in out.items()}
    return ml_collections.ConfigDict(typed)


# Set by the loop from the top-level config, not per method.
_TOP_LEVEL = ("num_classes", "total_steps", "batch_size", "seed", "device_augment", "optimizer_config")
_TYPES = {"num_features": int, "bandwidth_points": int}


def base():
    c = ml_collections.ConfigDict()
    c.method = "ssl_hsic"
    c.method_kwargs = method_kwargs("ssl_hsic")
    c.model = ml_collections.ConfigDict({"depth": 18, "width_multiplier": 1.0, "cifar_stem": True,
                                         "padding": "same"})
    c.data = ml_collections.ConfigDict({
        "dataset": "", "train": "demo:train", "test": "demo:test", "views": "cifar10",
        "eval": "cifar10",
        "image_size": 32,
    })
    c.batch_size = 256
    c.epochs = 100.0
    c.total_steps = 0
    c.optimizer = ml_collections.ConfigDict(
        {k: config_dict.placeholder(t) for k, t in OPTIMIZER_KEYS.items()})
    c.seed = 0
    c.checkpoint_every_steps = 500
    c.collapse_patience = 100  # steps at a collapse indicator's collapsed value before a warning
    c.keep_checkpoints = 3
    c.mixed_precision = ""
    c.jit_compile = "auto"
    c.eval = ml_collections.ConfigDict({
        "protocols": ("knn", "linear_lbfgs"), "knn_every_steps": 0, "baseline_random": True,
    })
    c.export = ml_collections.ConfigDict({"name": ""})
    return c


def cifar10(method, **method_kwargs):
    """CIFAR-10 ResNet-18 (CIFAR stem), recipes.md's CIFAR settings. Data: TFDS `cifar10`
    (downloaded on first use); a local copy with --config.data.dataset=cifar10_archive:PATH (this
    project's figures: the shared JPEG copy, `CIFAR10_ARCHIVE`)."""
    c = base()
    c.method = method
    c.method_kwargs = globals()["method_kwargs"](method, **method_kwargs)
    c.data.update({"dataset": "tfds:cifar10", "train": "", "test": ""})
    c.batch_size = 256
    c.epochs = 1000.0
    # torchvision's ResNet padding: each strided 3x3 window centred where the 1x1 shortcut samples
    # (TF's "same" is one pixel off; measured with issue 17's SimCLR gap).
    c.model.padding = "symmetric"
    # LARS settings of the public CIFAR recipes (solo-learn): trust 0.02, lr 1.0·batch/256,
    # weight decay 1e-5, 10 warmup epochs of 1000; the Adam methods keep their own defaults.
    if method in ("ssl_hsic", "ssl_hsic_no_target", "byol", "simclr"):
        c.optimizer.update({"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                            "weight_decay": 1e-5})
    return c


def imagenet(method, **method_kwargs):
    """ImageNet ResNet-50 from TFDS (`imagenet2012`; set data.train's data_dir to your copy)."""
    c = base()
    c.method = method
    c.method_kwargs = globals()["method_kwargs"](method, **method_kwargs)
    c.model.update({"depth": 50, "width_multiplier": 1.0, "cifar_stem": False})
    c.data.update({"train": "tfds:imagenet2012:train", "test": "tfds:imagenet2012:validation",
                   "views": "byol", "eval": "imagenet", "image_size": 224})
    c.batch_size = 4096
    c.eval.protocols = ("knn",)
    c.checkpoint_every_steps = 5000
    return c



def ssl_hsic_imagenet(method):
    """The SSL-HSIC reference recipe on ImageNet (recipes.md), for `ssl_hsic` or
    `ssl_hsic_no_target`: batch 4096, 1000 epochs, LARS (momentum 0.9, trust 1e-3, weight decay
    1e-6), lr 0.4 x batch/256 with 10 warmup epochs then cosine, a 0.999 EMA of the encoder for
    evaluation."""
    c = imagenet(method)
    c.epochs = 1000.0
    c.optimizer.update({"name": "lars", "base_learning_rate": 0.4, "weight_decay": 1e-6,
                        "trust_coefficient": 1e-3, "warmup_fraction": 10 / 1000})
    c.method_kwargs.eval_ema_decay = 0.999  # the reference evaluates a 0.999 EMA of the encoder
    return c

#: TinyImageNet as image folders (train/<wnid>/*.JPEG; val re-arranged into val/<wnid>/).
TINYIMAGENET_DIR = os.environ.get("TINYIMAGENET_DIR", os.path.expanduser("~/data/tiny-imagenet-200"))


def tinyimagenet(method, **method_kwargs):
    """ISSL on TinyImageNet (recipes.md): ResNet-18 with the CIFAR stem at 64 px, 300 epochs,
    Adam 2e-3, weight decay 1e-6, cosine with 10 warmup epochs, gradient clipping 2, 2 crops."""
    c = base()
    c.method = method
    c.method_kwargs = globals()["method_kwargs"](method, **method_kwargs)
    c.data.update({"train": f"folder:{TINYIMAGENET_DIR}/train",
                   "test": f"folder:{TINYIMAGENET_DIR}/val",
                   "views": "issl_tinyimagenet", "eval": "tinyimagenet", "image_size": 64})
    c.epochs = 300.0
    c.optimizer.update({"name": "adamw", "weight_decay": 1e-6, "warmup_fraction": 10 / 300,
                        "clipnorm": 2.0})
    return c


def issl_imagenet(method, multicrop=False, epochs=100, **method_kwargs):
    """ISSL on ImageNet (recipes.md): ResNet-50, batch 2560, SGD + LARS (momentum 0.9, weight
    decay 1e-6; the reference uses LARC, LARS's clipped variant), peak lr 0.3 per 256 images,
    10 warmup epochs, cosine; 2 x 224 crops, or 2 x 160 + 4 x 96 with `multicrop`."""
    c = imagenet(method, **method_kwargs)
    c.data.views = "issl_imagenet_multicrop" if multicrop else "issl_imagenet"
    c.batch_size = 2560
    c.epochs = float(epochs)
    c.optimizer.update({"name": "lars", "base_learning_rate": 0.3, "weight_decay": 1e-6,
                        "trust_coefficient": 1e-3, "warmup_fraction": 10 / epochs})
    return c
