"""The method registry: `create(name, encoder, **overrides)`, `names()`, `get(name)`,
`options(name)`.

A method is a `SSLModel` subclass plus default keyword arguments; registering a name is one
decorator line in the method's module (see `simclr.py`). Everything else about a method (its
optimizer, view count, options, tiny test sizes) is read from its class, so no other file lists
the method names.
"""

import inspect

_REGISTRY = {}


def register(name, **defaults):
    """Class decorator: registers `cls` under `name` with default constructor arguments."""

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = (cls, dict(defaults))
        return cls

    return wrap


def names():
    """Registered method names."""
    _import_all()
    return sorted(_REGISTRY)


def _import_all():
    # Importing the package registers every built-in method.
    import sslhsic_tf.methods  # noqa: F401


def get(name):
    """The `SSLModel` subclass registered as `name`."""
    return _lookup(name)[0]


#: Constructor arguments set by the training loop from the top-level config, not per method.
LOOP_ARGUMENTS = ("num_classes", "total_steps", "batch_size", "seed", "device_augment",
                  "optimizer_config")


def options(name):
    """Every option of method `name` with its default: the keyword arguments of its constructor
    (and its base classes') with the registered defaults applied, without `LOOP_ARGUMENTS`."""
    cls, registered = _lookup(name)
    out = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras"):
            break
        for arg, p in inspect.signature(klass.__init__).parameters.items():
            if p.kind is p.KEYWORD_ONLY and arg not in LOOP_ARGUMENTS and arg not in out:
                out[arg] = p.default
    out.update(registered)
    return out


def _lookup(name):
    _import_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def _accepted(cls):
    accepted = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras"):
            break
        params = inspect.signature(klass.__init__).parameters
        accepted |= {k for k, p in params.items() if p.kind is p.KEYWORD_ONLY}
    return accepted


def create(name, encoder, **overrides):
    """Returns the training model (an uncompiled `keras.Model`) of method `name`.

    Args:
      name: one of `names()`: ssl_hsic, ssl_hsic_no_target, byol, simclr, cissl, dissl.
      encoder: a `keras.Model` mapping images `[B, H, W, 3]` in [0, 1] to features `[B, F]`,
        e.g. `sslhsic_tf.models.resnet(18, cifar_stem=True)`.
      **overrides: any constructor argument of the method (the papers' values are the defaults),
        e.g. `kernel="gaussian"`, `num_features=None`, `gamma=3.0`, `total_steps=10_000`,
        `batch_size=512`, `num_classes=10`; `device_augment` may be the views themselves (see
        `augmentation_layer`).
    """
    cls, defaults = _lookup(name)
    if "device_augment" in overrides:
        overrides["device_augment"] = augmentation_layer(overrides["device_augment"])
    unknown = set(overrides) - _accepted(cls)
    if unknown:
        raise ValueError(
            f"method {name!r} got unknown argument(s) {sorted(unknown)}; accepted: "
            f"{sorted(_accepted(cls))}"
        )
    return cls(encoder, **{**defaults, **overrides})


def augmentation_layer(value):
    """`device_augment` as the model takes it: None, a layer (kept), a serialised layer (a dict
    from `get_config`), or the views of a pipeline (a preset name such as "cifar10", or
    `ViewConfig`s / dicts), turned into `sslhsic_tf.data.DeviceAugmentation(views)`."""
    import keras

    if value is None or isinstance(value, keras.layers.Layer):
        return value
    from sslhsic_tf.data import device  # registers DeviceAugmentation for deserialisation

    if isinstance(value, dict) and "class_name" in value:
        return keras.saving.deserialize_keras_object(value)
    return device.DeviceAugmentation(value)
