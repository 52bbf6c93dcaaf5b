"""The `.keras` format for encoders and any registered model (the training model included).

`save_keras` refuses, before writing, a model that could not be loaded back safely: a
`keras.layers.Lambda` layer (Python bytecode, refused by `safe_mode=True`) or a layer, optimizer
or learning-rate schedule whose class is neither built into Keras nor registered with
`@keras.saving.register_keras_serializable`. `load_keras` always loads with `safe_mode=True`
(no arbitrary code, no pickle) after importing the sslhsic_tf modules that register classes.
`with_dtype_policy` rebuilds a model under another dtype policy with the same weights (exports
of bf16-trained encoders compute in float32).
"""

import importlib
import os
import pathlib
import secrets

import keras

from sslhsic_tf.utils import backend

# The subpackages whose import registers serialisable classes; imported before loading.
REGISTERING_MODULES = (
    "sslhsic_tf.models",
    "sslhsic_tf.optim",
    "sslhsic_tf.methods",
    "sslhsic_tf.training",
    "sslhsic_tf.evaluation",
)


def _is_loadable_class(cls):
    if cls.__module__.split(".")[0] == "keras":
        return True
    return keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls


def _describe(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def unloadable_objects(model):
    """Lists (as strings) what in `model` would stop a `safe_mode=True` reload; empty if none."""
    problems = []
    layers = list(backend.flatten_layers(model)) if isinstance(model, keras.layers.Layer) else [model]
    for layer in layers:
        cls = type(layer)
        if isinstance(layer, keras.layers.Lambda):
            problems.append(
                f"layer {layer.name!r} is a keras.layers.Lambda (Python bytecode: refused by "
                "safe_mode=True); write a registered layer instead"
            )
        elif not _is_loadable_class(cls):
            problems.append(
                f"layer {layer.name!r}: class {_describe(cls)} is not registered (decorate it with "
                "@keras.saving.register_keras_serializable(package=...))"
            )
    optimizer = getattr(model, "optimizer", None)
    while optimizer is not None:
        if not _is_loadable_class(type(optimizer)):
            problems.append(f"optimizer: class {_describe(type(optimizer))} is not registered")
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) and not (
            _is_loadable_class(type(schedule))
        ):
            problems.append(
                f"optimizer learning-rate schedule: class {_describe(type(schedule))} is not "
                "registered"
            )
        optimizer = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer
    return problems


def _keras_path(path, what):
    path = pathlib.Path(os.fspath(path))
    if path.suffix != ".keras":
        raise ValueError(f"{what} must end in '.keras'; got {str(path)!r}")
    return path


def save_keras(model, path, *, overwrite=False):
    """Saves `model` (any `keras.Model`) as a `.keras` file, atomically; returns the path.

    Raises TypeError listing every layer/optimizer/schedule that a `safe_mode=True` load would
    refuse or not find, before anything is written.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    path = _keras_path(path, "path")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path {path} exists; pass overwrite=True to replace it")
    if path.is_dir():
        raise FileExistsError(f"path {path} is a folder; a .keras file is expected")
    problems = unloadable_objects(model)
    if problems:
        raise TypeError(
            f"model {model.name!r} cannot be saved for safe reloading:\n  - "
            + "\n  - ".join(problems)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.tmp-{secrets.token_hex(6)}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _import_registering_modules():
    for name in REGISTERING_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def load_keras(path, *, compile=True, custom_objects=None):
    """Loads a `.keras` file with `safe_mode=True` (always); returns the model.

    `custom_objects` maps names to classes for user classes that are not registered; it cannot
    switch safe mode off.
    """
    path = _keras_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"no .keras file at {path}")
    _import_registering_modules()
    return keras.saving.load_model(
        path, custom_objects=custom_objects, compile=compile, safe_mode=True
    )


def with_dtype_policy(model, policy="float32"):
    """A copy of `model` (functional or sequential, nested ones too) whose layers all compute
    under the dtype `policy`, with the same weights.

    A run trained under `mixed_bfloat16` leaves an encoder that computes in bfloat16 inside:
    fast on CPUs with bf16 instructions, slow where they are emulated. Exports convert it to
    float32 (`export --dtype_policy=float32`, the default). The variables of a mixed policy are
    float32 already, so nothing is rounded; the float32 copy's features equal the bf16 encoder's
    up to bf16 rounding of the activations.
    """
    try:
        target = keras.dtype_policies.get(policy)
    except ValueError:
        raise ValueError(
            f"`policy` must be a Keras dtype policy name such as 'float32' or 'mixed_bfloat16', "
            f"got {policy!r}"
        ) from None
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")

    def rebuild(layer):
        config = layer.get_config()
        config["dtype"] = target.name
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    except ValueError as err:  # Keras refuses subclassed models here
        raise TypeError(
            f"`model` must be a functional or Sequential keras.Model (its layers are rebuilt from "
            f"their configs), got {type(model).__name__}: {err}"
        ) from None
    copy.set_weights(model.get_weights())
    return copy
