"""Up-front checks of a pretraining config: every mistake is a ValueError naming `--config.KEY`.

`check_config(config)` runs before anything is read, built or written, so a typo costs seconds,
not a data load and a model build (and never leaves a half-initialised --workdir).
Unknown keys are refused in the sections whose keys the loop reads (top level, data, eval,
export); `method_kwargs`, `model` and `optimizer` are free-form and checked where they are used
(the method registry, `models.resnet`, `SSLModel`).
"""

import re

from sslhsic_tf import optim
from sslhsic_tf.training import schema

MIXED_PRECISION = ("", "float32", "mixed_float16", "mixed_bfloat16", "auto")
OPTIMIZERS = optim.OPTIMIZER_NAMES
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_CLOSED_SECTIONS = ("data", "eval", "export", "budget")


def _to_dict(config):
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _fail(key, value, expected):
    raise ValueError(f"--config.{key}={value!r}: {expected}")


_JIT_COMPILE = {"auto": "auto", "true": True, "false": False}


def jit_compile_option(value):
    """`config.jit_compile` as `compile(jit_compile=...)` takes it: True, False or "auto".

    The field holds a string ("auto" by default), so the command line gives
    `--config.jit_compile=True` as the string 'True': any case of true/false/auto is accepted.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _JIT_COMPILE:
        return _JIT_COMPILE[value.lower()]
    _fail("jit_compile", value, "expected True, False or auto")


def precision_options(config):
    """(policy, jit_compile) a run uses: `config.mixed_precision` ("": None, the global policy
    stays as it is) and `config.jit_compile` (`jit_compile_option`); with
    `mixed_precision="auto"` the policy, and the jit choice where `jit_compile` is "auto" too,
    are `backend.auto_precision()`'s."""
    from sslhsic_tf.utils import backend

    policy = config.get("mixed_precision", "") or None
    jit_compile = jit_compile_option(config.get("jit_compile", "auto"))
    if policy == "auto":
        policy, auto_jit = backend.auto_precision()
        if jit_compile == "auto":
            jit_compile = auto_jit
    return policy, jit_compile


def _unknown_keys(config, base):
    problems = []
    for key in sorted(set(config) - set(base)):
        problems.append(f"config.{key}")
    for section in _CLOSED_SECTIONS:
        if isinstance(config.get(section), dict) and isinstance(base.get(section), dict):
            for key in sorted(set(config[section]) - set(base[section])):
                problems.append(f"config.{section}.{key}")
    return problems


def dataset_split(dataset, split):
    """The source spec of `split` ("train" / "test") of a `data.dataset` spec: SPEC:split, or for
    image folders folder:DIR/split (the test split: DIR/test, else DIR/val, else none: "")."""
    import os

    kind, _, rest = dataset.partition(":")
    if kind != "folder":
        return f"{dataset}:{split}"
    if split == "train":
        return f"folder:{os.path.join(rest, 'train')}"
    for name in ("test", "val"):
        if os.path.isdir(os.path.join(rest, name)):
            return f"folder:{os.path.join(rest, name)}"
    return ""


def resolve_sources(config):
    """Fills empty data.train / data.test from data.dataset (`dataset_split`); returns
    {"train": flag, "test": flag}, the flag each spec came from, for error messages."""
    data, flags = config.data, {}
    for split in ("train", "test"):
        flags[split] = f"--config.data.{split}"
        if not data.get(split) and data.get("dataset"):
            data[split] = dataset_split(data.dataset, split)
            flags[split] = "--config.data.dataset"
    return flags


def apply_command_line_dataset(config, argv):
    """A `--config.data.dataset` on the command line wins over the preset's data.train /
    data.test (cleared unless they are on the command line too), so that it takes effect
    whatever the preset names."""
    def given(key):
        flag = f"--config.{key}"
        return any(a == flag or a.startswith(flag + "=") for a in argv)

    if not given("data.dataset"):
        return
    for split in ("train", "test"):
        if not given(f"data.{split}"):
            config.data[split] = ""


def check_config(config):
    """Raises ValueError/TypeError for the first problem found in a pretraining `config`."""
    c = _to_dict(config)
    base = schema.base().to_dict()
    unknown = _unknown_keys(c, base)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {', '.join(unknown)}; the keys are those of "
            "sslhsic_tf.training.schema base() (see its docstring)"
        )
    missing = sorted(k for k in ("method", "model", "data", "batch_size") if k not in c)
    if missing:
        raise ValueError(f"the config lacks {', '.join('config.' + k for k in missing)}")

    from sslhsic_tf.methods import registry

    if c["method"] not in registry.names():
        _fail("method", c["method"], f"unknown method; available: {', '.join(registry.names())}")
    if not _is_int(c["batch_size"]) or c["batch_size"] < 1:
        _fail("batch_size", c["batch_size"], "expected a positive int (the global batch size)")
    total = c.get("total_steps", 0)
    if not _is_int(total) or total < 0:
        _fail("total_steps", total, "expected an int >= 0 (0: use config.epochs)")
    epochs = c.get("epochs", 0)
    if total == 0 and (isinstance(epochs, bool) or not isinstance(epochs, (int, float))
                       or not epochs > 0):
        _fail("epochs", epochs, "expected a number > 0 (or set config.total_steps)")
    stop = c.get("stop_after_epochs", 0.0)
    if isinstance(stop, bool) or not isinstance(stop, (int, float)) or not stop >= 0:
        _fail("stop_after_epochs", stop, "expected a number >= 0 (0: the whole run)")
    every = c.get("checkpoint_every_steps", 1)
    if not _is_int(every) or every < 1:
        _fail("checkpoint_every_steps", every, "expected an int >= 1")
    keep = c.get("keep_checkpoints", 1)
    if not _is_int(keep) or keep < 1:
        _fail("keep_checkpoints", keep, "expected an int >= 1")
    if not _is_int(c.get("seed", 0)):
        _fail("seed", c.get("seed"), "expected an int")
    if c.get("mixed_precision", "") not in MIXED_PRECISION:
        _fail("mixed_precision", c.get("mixed_precision"), f"expected one of {MIXED_PRECISION}")
    jit_compile_option(c.get("jit_compile", "auto"))

    optimizer = {k: v for k, v in (c.get("optimizer") or {}).items() if v is not None}
    from sslhsic_tf.methods.base import SSLModel

    unknown_opt = sorted(set(optimizer) - set(SSLModel.optimizer_defaults))
    if unknown_opt:
        raise ValueError(
            f"unknown config key(s) {', '.join('config.optimizer.' + k for k in unknown_opt)}; "
            f"valid: {', '.join(sorted(SSLModel.optimizer_defaults))}"
        )
    if "name" in optimizer and optimizer["name"] not in OPTIMIZERS:
        _fail("optimizer.name", optimizer["name"], f"expected one of {OPTIMIZERS}")

    data = c["data"]
    if not isinstance(data.get("dataset", ""), str):
        _fail("data.dataset", data.get("dataset"), "expected a source spec without its split, "
              "such as 'tfds:cifar10' or 'cifar10_archive:PATH', or ''")
    if not isinstance(data.get("train"), str) or not (data.get("train") or data.get("dataset")):
        _fail("data.train", data.get("train"),
              "expected a source spec such as 'demo:train' (or set --config.data.dataset)")
    if data.get("test") is not None and not isinstance(data.get("test"), str):
        _fail("data.test", data.get("test"), "expected a source spec string or ''")
    size = data.get("image_size", 32)
    if not _is_int(size) or size < 1:
        _fail("data.image_size", size, "expected a positive int")

    from sslhsic_tf.data import augment

    try:
        augment.resolve_views(data.get("views", "cifar10"))
    except (ValueError, TypeError) as e:
        raise ValueError(f"--config.data.views: {e}") from None
    try:
        augment.resolve_eval(data.get("eval", "cifar10"))
    except (ValueError, TypeError) as e:
        raise ValueError(f"--config.data.eval: {e}") from None

    from sslhsic_tf.evaluation.suite import PROTOCOLS

    protocols = (c.get("eval") or {}).get("protocols", ())
    if isinstance(protocols, str):
        protocols = (protocols,)
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        _fail("eval.protocols", tuple(protocols), f"unknown protocol(s) {bad}; valid: {PROTOCOLS}")

    name = (c.get("export") or {}).get("name") or ""
    if name and not _EXPORT_NAME.match(name):
        _fail("export.name", name, "expected letters, digits and '._-' only")
