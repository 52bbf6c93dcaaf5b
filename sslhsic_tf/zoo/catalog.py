"""Listing, describing, verifying, loading and adding zoo models."""

import copy
import datetime
import difflib
import json
import os
import pathlib

from sslhsic_tf.version import __version__
from sslhsic_tf.zoo.checksums import scan_folder, verify_folder
from sslhsic_tf.zoo.manifest import (
    ManifestError,
    locked,
    read_manifest,
    validate_entry,
    write_manifest,
)
from sslhsic_tf.zoo.paths import check_name, resolve_root, safe_join

# Kept out of the zoo package's dependencies on TensorFlow: read without importing serving.
_EXPORT_METADATA = "sslhsic_tf_export.json"  # serving.metadata.METADATA_FILENAME


def list_models(root=None):
    """Sorted names of the models in the zoo at `root` (default: `zoo.root()`)."""
    return sorted(read_manifest(resolve_root(root))["models"])


def _entry(name, zoo_root):
    check_name(name)
    models = read_manifest(zoo_root)["models"]
    if name not in models:
        close = difflib.get_close_matches(name, sorted(models), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        available = ", ".join(sorted(models)) or "none"
        raise ValueError(f"unknown zoo model {name!r} in {zoo_root}; {hint}available: {available}")
    return models[name]


def info(name, root=None):
    """The manifest entry of `name` plus `name` and `path` (absolute path of its SavedModel folder).

    Includes `input_shape` `[H, W, 3]`, `feature_dim`, `method`, `architecture`, `training`,
    `evaluation` (each figure with its protocol) and `files`. Files are NOT verified here.
    """
    zoo_root = resolve_root(root)
    entry = copy.deepcopy(_entry(name, zoo_root))
    path = safe_join(zoo_root, entry["folder"], f"zoo model {name!r} folder")
    return {**entry, "name": name, "path": str(path)}


def verify(name, root=None):
    """Checks every file of `name` (no links, none missing or extra, size, SHA-256); returns info.

    Raises `ZooIntegrityError` (a ValueError) listing every problem, each naming its file.
    """
    desc = info(name, root)
    verify_folder(desc["path"], desc["files"], f"zoo model {name!r}")
    return desc


def load(name, root=None):
    """Verifies `name` (see `verify`), then returns `tf.saved_model.load` of its folder.

    The result is callable as `obj(images, training=False)` (float32 RGB `[B, H, W, 3]` in
    [0, 1] at `info(name)["input_shape"]`) -> float32 `[B, feature_dim]`. For fine-tuning in
    tf_keras, `verify(name)` then `hub.KerasLayer(info(name)["path"], trainable=True)`.
    (Files are trusted between the check and the load: do not load from a folder others can
    write to.)
    """
    import tensorflow as tf

    desc = verify(name, root)
    return tf.saved_model.load(desc["path"])


def _read_export_metadata(folder):
    """The folder's export metadata (`serving.metadata`), or None where it has none."""
    from sslhsic_tf.serving import metadata

    if not (folder / _EXPORT_METADATA).is_file():
        return None
    return metadata.read_export_metadata(folder)


def _overlaps(a, b):
    a, b = a.split("/"), b.split("/")
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _check_free(models, name, rel, replace, zoo_root):
    if name in models and not replace:
        raise ValueError(
            f"zoo model {name!r} already exists in {zoo_root}; pass replace=True to replace it"
        )
    for other, other_entry in models.items():
        if other != name and _overlaps(other_entry["folder"], rel):
            raise ManifestError(
                f"export_dir {rel!r} overlaps the folder {other_entry['folder']!r} of zoo "
                f"model {other!r}; each model needs its own folder"
            )


def add_entry(
    export_dir,
    *,
    name,
    method,
    architecture,
    training,
    evaluation=(),
    feature_dim=None,
    input_shape=None,
    notes=None,
    root=None,
    replace=False,
):
    """Adds (or with `replace=True` replaces) model `name`, with checksums of every file; returns
    its `info`.

    Args:
      export_dir: the SavedModel folder, which must lie inside the zoo folder (export into
        `<zoo>/<name>`); it may not contain symbolic links or special files.
      name: the model name (letters, digits, `._-`).
      method: e.g. "ssl_hsic", "byol", "simclr", "cissl", "dissl".
      architecture: dict with `depth` (int), `width_multiplier`, `stem` ("cifar" or "imagenet"),
        and optionally `name` (default "resnet").
      training: dict with `dataset` (str) and `epochs` (int), plus anything else worth keeping.
      evaluation: figures, each a dict with `metric`, `value` and `protocol` (e.g. "linear probe,
        offline, L-BFGS, frozen BN" or "kNN k=200 T=0.07"), plus e.g. `dataset`.
      feature_dim, input_shape: taken from the export's `sslhsic_tf_export.json`; give them only
        for a folder without one (a value that contradicts the file is an error).
      notes: an optional string.
      root: the zoo folder (default `zoo.root()`); it must exist.
      replace: allow replacing an existing entry of that name.

    The manifest is rewritten atomically (temp file + rename) under a lock on the zoo folder.
    """
    zoo_root = resolve_root(root)
    check_name(name)
    folder = pathlib.Path(os.path.normpath(pathlib.Path(os.fspath(export_dir)).absolute()))
    if not folder.is_dir() or folder.is_symlink():
        raise ValueError(f"export_dir {folder} is not a folder")
    try:
        rel = folder.relative_to(zoo_root).as_posix()
    except ValueError:
        raise ValueError(
            f"export_dir {folder} is not inside the zoo folder {zoo_root}; export into "
            f"{zoo_root / name} (or pass root=)"
        ) from None
    folder = safe_join(zoo_root, rel, "export_dir")
    if not (folder / "saved_model.pb").is_file():
        raise ValueError(f"export_dir {folder} is not a SavedModel folder (no saved_model.pb)")

    meta = _read_export_metadata(folder)
    if isinstance(input_shape, tuple):
        input_shape = list(input_shape)
    resolved = {}
    for key, value in (("feature_dim", feature_dim), ("input_shape", input_shape)):
        stored = None if meta is None else meta.get(key)
        if value is None and stored is None:
            raise ValueError(f"{key} is required: {folder} has no {_EXPORT_METADATA} stating it")
        if value is not None and stored is not None and value != stored:
            raise ValueError(
                f"{key}={value!r} contradicts {_EXPORT_METADATA} in {folder}, which says {stored!r}"
            )
        resolved[key] = stored if value is None else value

    if not isinstance(architecture, dict):
        raise TypeError(f"architecture must be a dict; got {type(architecture).__name__}")
    if not isinstance(training, dict):
        raise TypeError(f"training must be a dict; got {type(training).__name__}")
    if isinstance(evaluation, dict) or not isinstance(evaluation, (list, tuple)):
        raise TypeError(
            f"evaluation must be a list of figure dicts; got {type(evaluation).__name__}"
        )
    entry = {
        "folder": rel,
        "method": method,
        "architecture": {"name": "resnet", **architecture},
        "training": dict(training),
        "evaluation": [dict(f) if isinstance(f, dict) else f for f in evaluation],
        "feature_dim": resolved["feature_dim"],
        "input_shape": resolved["input_shape"],
        "files": [],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sslhsic_tf_version": __version__,
    }
    if meta is not None and isinstance(meta.get("kind"), str):
        entry["export_kind"] = meta["kind"]
    if notes is not None:
        entry["notes"] = notes
    try:
        json.dumps(entry, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"add_entry: metadata must be JSON values (no NaN): {err}") from None
    # Bad metadata fails here, before any file is hashed.
    validate_entry(entry, f"add_entry({name!r})", check_files=False)

    # Checked again under the lock; here too so that a clash fails before any hashing.
    _check_free(read_manifest(zoo_root)["models"], name, rel, replace, zoo_root)
    entry["files"] = scan_folder(folder)
    entry["total_size"] = sum(f["size"] for f in entry["files"])
    validate_entry(entry, f"add_entry({name!r})")
    with locked(zoo_root):
        doc = read_manifest(zoo_root)
        _check_free(doc["models"], name, rel, replace, zoo_root)
        doc["models"][name] = entry
        write_manifest(zoo_root, doc)
    return info(name, zoo_root)
