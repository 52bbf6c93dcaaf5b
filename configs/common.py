"""Preset builders: each preset (`configs/<name>.py`) starts from one of these and changes only
what differs. The schema itself (every key, `base()`, `method_kwargs`) lives in the library,
`sslhsic_tf.training.schema`; its docstring lists the fields. The CIFAR-10 presets read
"tfds:cifar10"; a local copy is one override: --config.data.dataset=cifar10_archive:PATH.
"""

import os

from sslhsic_tf import methods
from sslhsic_tf.training.schema import base, method_kwargs  # noqa: F401 - the presets' start

#: The shared data folder beside a checkout (override with SSLHSIC_SHARED_DATA).
SHARED_DATA = os.environ.get(
    "SSLHSIC_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"),
)
CIFAR10_ARCHIVE = os.path.join(SHARED_DATA, "cifar10", "cifar10_jpeg_q75.tar.gz")


_method_kwargs = method_kwargs

#: The CIFAR presets that train with SGD instead of LARS, each with c: how much smaller its
#: relative gradient |g| / |w| is than SimCLR's at initialisation (benchmarks/gradient_scale.py).
#: Measured on the 100-epoch schedule (docs/long_runs.md): LARS keeps a relative step of
#: lr x trust = 0.02 through the peak and stalls (the kernels' norm grows 44 -> 292 in 5 epochs),
#: SGD's step shrinks with the gradient. A method joins once its pair of runs says so.
SGD_GRADIENT_SCALE = {"simclr": 1.0, "ssl_hsic_no_target": 7.5}
#: The SGD presets that leave biases and BatchNorm parameters out of the weight decay: lightly's
#: recipe decays every weight, which shrank the BatchNorm scales of a 40-epoch SSL-HSIC run to
#: 0.22 and cost its fine-tuning on 1% of the labels 9 points (docs/long_runs.md).
SGD_NORM_AND_BIAS_UNDECAYED = ("ssl_hsic_no_target",)


def sgd_recipe(gradient_scale=1.0):
    """lightly's CIFAR-10 optimiser (SGD, momentum 0.9, weight decay 5e-4 coupled as torch's, lr
    0.06 x batch/128 = 0.12 x batch/256, cosine, no warmup) for a loss whose gradient is
    `gradient_scale` times smaller than SimCLR's: lr x c and weight decay / c, the update of c x
    the loss."""
    return {"name": "sgd", "base_learning_rate": round(0.12 * gradient_scale, 9),
            "weight_decay": 5e-4 / gradient_scale, "momentum": 0.9, "warmup_fraction": 0.0}


def cifar10(method, **method_kwargs):
    """CIFAR-10 ResNet-18 (CIFAR stem), recipes.md's CIFAR settings. Data: TFDS `cifar10`
    (downloaded on first use); a local copy with --config.data.dataset=cifar10_archive:PATH (this
    project's figures: the shared JPEG copy, `CIFAR10_ARCHIVE`)."""
    c = base()
    c.method = method
    c.method_kwargs = _method_kwargs(method, **method_kwargs)
    c.data.update({"dataset": "tfds:cifar10", "train": "", "test": ""})
    c.batch_size = 256
    c.epochs = 1000.0
    # The fastest measured precision of this CPU kind (utils/backend.CPU_PRECISION: bf16 where
    # the CPU has bf16 instructions, XLA with AMX); float32 on accelerators and other CPUs.
    c.mixed_precision = "auto"
    # torchvision's ResNet padding: each strided 3x3 window centred where the 1x1 shortcut samples
    # (TF's "same" is one pixel off; measured with the SimCLR parity work, docs/simclr_parity.md).
    c.model.padding = "symmetric"
    # SGD where measured to win (SGD_GRADIENT_SCALE); the other LARS methods keep the LARS
    # settings of the public CIFAR recipes (solo-learn): trust 0.02, lr 1.0·batch/256, weight
    # decay 1e-5, 10 warmup epochs of 1000; the Adam methods keep their own defaults.
    if method in SGD_GRADIENT_SCALE:
        c.optimizer.update(sgd_recipe(SGD_GRADIENT_SCALE[method]))
        c.optimizer.exclude_norm_and_bias = method in SGD_NORM_AND_BIAS_UNDECAYED
    elif methods.get(method).optimizer_defaults["name"] == "lars":
        c.optimizer.update({"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                            "weight_decay": 1e-5})
    return c


def cifar10_gpu(method, **method_kwargs):
    """`cifar10(method)` on one GPU under JAX in a wall-clock budget (docs/gpu_run.md): ResNet-18
    x1, batch 512, `mixed_bfloat16`, the data on the device (`data.on_device`, no TensorFlow),
    an 8-minute budget with 150 s kept for the end, warmup 4% of the run (the 1000-epoch
    recipe's 1% is a fraction of an epoch in a run of minutes), kNN at the end, gradient and
    weight norms logged."""
    c = cifar10(method, **method_kwargs)
    c.batch_size = 512
    c.mixed_precision = "mixed_bfloat16"
    c.data.on_device = True
    c.budget.minutes = 8.0
    c.budget.reserve_seconds = 150.0
    c.optimizer.warmup_fraction = 0.04
    c.checkpoint_every_steps = 500  # logging interval (a budgeted run checkpoints at its end)
    c.eval.protocols = ("knn",)
    c.export.saved_model = False  # SavedModel export: sslhsic-export on a TensorFlow machine
    # grad_norm and weight_norm in train_log.csv: the relative step of every run is on record
    # (what explained the LARS stall, docs/long_runs.md).
    c.method_kwargs.log_norms = True
    c.export.name = f"{method}_resnet18_cifar10_gpu"
    return c


def imagenet(method, **method_kwargs):
    """ImageNet ResNet-50 from TFDS (`imagenet2012`; set data.train's data_dir to your copy)."""
    c = base()
    c.method = method
    c.method_kwargs = _method_kwargs(method, **method_kwargs)
    c.model.update({"depth": 50, "width_multiplier": 1.0, "cifar_stem": False})
    c.data.update({"dataset": "", "train": "tfds:imagenet2012:train", "test": "tfds:imagenet2012:validation",
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
    c.method_kwargs = _method_kwargs(method, **method_kwargs)
    c.data.update({"dataset": "", "train": f"folder:{TINYIMAGENET_DIR}/train",
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
