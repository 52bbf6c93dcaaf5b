"""The base config every preset starts from; each preset changes only what differs.

Fields:
  method, method_kwargs      methods.create(method, encoder, **method_kwargs)
  model                      models.resnet(**model)
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

import os

import ml_collections

#: The shared data folder beside a checkout (override with SSLHSIC_SHARED_DATA).
SHARED_DATA = os.environ.get(
    "SSLHSIC_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"),
)
CIFAR10_ARCHIVE = os.path.join(SHARED_DATA, "cifar10", "cifar10_jpeg_q75.tar.gz")


def base():
    c = ml_collections.ConfigDict()
    c.method = "ssl_hsic"
    c.method_kwargs = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict({"depth": 18, "width_multiplier": 1.0, "cifar_stem": True})
    c.data = ml_collections.ConfigDict({
        "train": "demo:train", "test": "demo:test", "views": "cifar10", "eval": "cifar10",
        "image_size": 32,
    })
    c.batch_size = 256
    c.epochs = 100.0
    c.total_steps = 0
    c.optimizer = ml_collections.ConfigDict()
    c.seed = 0
    c.checkpoint_every_steps = 500
    c.keep_checkpoints = 3
    c.mixed_precision = ""
    c.jit_compile = "auto"
    c.eval = ml_collections.ConfigDict({
        "protocols": ("knn", "linear_lbfgs"), "knn_every_steps": 0, "baseline_random": True,
    })
    c.export = ml_collections.ConfigDict({"name": ""})
    return c


def cifar10(method, **method_kwargs):
    """CIFAR-10 ResNet-18 (CIFAR stem) from the shared JPEG archive, recipes.md's CIFAR settings."""
    c = base()
    c.method = method
    c.method_kwargs.update(method_kwargs)
    c.data.train = f"cifar10_archive:{CIFAR10_ARCHIVE}:train"
    c.data.test = f"cifar10_archive:{CIFAR10_ARCHIVE}:test"
    c.batch_size = 512
    c.epochs = 1000.0
    return c


def imagenet(method, **method_kwargs):
    """ImageNet ResNet-50 from TFDS (`imagenet2012`; set data.train's data_dir to your copy)."""
    c = base()
    c.method = method
    c.method_kwargs.update(method_kwargs)
    c.model.update({"depth": 50, "width_multiplier": 1.0, "cifar_stem": False})
    c.data.update({"train": "tfds:imagenet2012:train", "test": "tfds:imagenet2012:validation",
                   "views": "byol", "eval": "imagenet", "image_size": 224})
    c.batch_size = 4096
    c.eval.protocols = ("knn",)
    c.checkpoint_every_steps = 5000
    return c
