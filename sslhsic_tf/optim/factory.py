"""The one optimizer factory: settings (a method's defaults, a config's overrides) -> optimizer.

Every network optimizer of the library is built here, from a dict with the keys of
`OPTIMIZER_DEFAULTS` (the SSL-HSIC / BYOL LARS recipe, recipes.md). A method states its own
defaults as a class attribute (`SSLModel.optimizer_defaults`, e.g. CISSL's Adam); a config's
`optimizer` block overrides them key by key.
"""

import keras

from sslhsic_tf.optim.lars import LARS
from sslhsic_tf.optim.schedules import WarmupCosine, scaled_learning_rate
from sslhsic_tf.optim.sgd import CoupledSGD

#: Optimizer names `build_optimizer` knows.
OPTIMIZER_NAMES = ("lars", "adamw", "sgd")

#: Every optimizer setting with the library's default (the SSL-HSIC reference's LARS).
OPTIMIZER_DEFAULTS = {
    "name": "lars",
    "base_learning_rate": 0.4,
    "weight_decay": 1e-6,
    "momentum": 0.9,
    "trust_coefficient": 1e-3,
    "warmup_fraction": 0.01,
    "clipnorm": None,
    # Biases and normalisation parameters out of the weight decay (LARS: and the trust ratio);
    # None: the optimizer's own default (LARS True, as the recipes; SGD False, as torch).
    "exclude_norm_and_bias": None,
}

#: The type of each setting (config files declare them; None means "the method's default").
OPTIMIZER_TYPES = {"name": str, "base_learning_rate": float, "weight_decay": float,
                   "momentum": float, "trust_coefficient": float, "warmup_fraction": float,
                   "clipnorm": float, "exclude_norm_and_bias": bool}


#: What `exclude_norm_and_bias: None` means for each optimizer that reads it.
NORM_AND_BIAS_EXCLUDED_BY_DEFAULT = {"lars": True, "sgd": False}


def resolved_exclusion(settings):
    """`settings['exclude_norm_and_bias']`, None resolved to the optimizer's own default."""
    given = settings.get("exclude_norm_and_bias")
    return NORM_AND_BIAS_EXCLUDED_BY_DEFAULT.get(settings.get("name")) if given is None else given


#: Settings each optimizer name leaves unread (`build_optimizer`): a change to them changes no step.
UNREAD_SETTINGS = {"sgd": ("trust_coefficient",),
                   "adamw": ("trust_coefficient", "momentum", "exclude_norm_and_bias")}


def check_settings(settings, name="optimizer_config"):
    """Raises a one-line ValueError for keys outside `OPTIMIZER_DEFAULTS` or an unknown name."""
    unknown = set(settings) - set(OPTIMIZER_DEFAULTS)
    if unknown:
        raise ValueError(f"{name} has unknown keys {sorted(unknown)}; valid keys: "
                         f"{sorted(OPTIMIZER_DEFAULTS)}")
    if "name" in settings and settings["name"] not in OPTIMIZER_NAMES:
        raise ValueError(f"{name}['name'] must be one of {OPTIMIZER_NAMES}; got "
                         f"{settings['name']!r}")


def build_optimizer(settings, total_steps, batch_size):
    """The optimizer of `settings` (all keys of `OPTIMIZER_DEFAULTS`) with a warmup + cosine
    schedule over `total_steps`, the peak learning rate scaled by `batch_size` / 256."""
    check_settings(settings)
    if total_steps is None:
        raise ValueError(
            "total_steps is needed for the default warmup-cosine schedule: pass "
            "total_steps=... to methods.create(), or compile(optimizer=...) yourself"
        )
    peak = scaled_learning_rate(settings["base_learning_rate"], batch_size)
    warmup = int(round(settings["warmup_fraction"] * total_steps))
    schedule = WarmupCosine(peak, warmup_steps=warmup, total_steps=total_steps)
    extra = {} if settings["clipnorm"] is None else {"global_clipnorm": settings["clipnorm"]}
    name = settings["name"]
    if name == "adamw" and settings.get("exclude_norm_and_bias") is not None:
        raise ValueError("optimizer_config['exclude_norm_and_bias'] is read by 'lars' and 'sgd' "
                         "only; leave it unset (None) with 'adamw'")
    if name != "adamw":
        extra["exclude_norm_and_bias"] = bool(resolved_exclusion(settings))
    if name == "lars":
        return LARS(learning_rate=schedule, momentum=settings["momentum"],
                    trust_coefficient=settings["trust_coefficient"],
                    weight_decay=settings["weight_decay"], **extra)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=schedule,
                                      weight_decay=settings["weight_decay"], **extra)
    # "sgd": torch.optim.SGD's update (weight decay in the gradient).
    return CoupledSGD(learning_rate=schedule, momentum=settings["momentum"],
                      weight_decay=settings["weight_decay"], **extra)
