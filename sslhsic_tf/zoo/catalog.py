"""Listing, describing, verifying, loading and adding zoo models."""

import copy
import datetime
import difflib
import json
import os
import pathlib

from sslhsic_tf.version import __version__
from sslhsic_tf.zoo import remote
from sslhsic_tf.zoo.checksums import ZooIntegrityError, scan_folder, sha256_file, verify_folder
from sslhsic_tf.zoo.manifest import (
    ManifestError,
    locked,
    read_manifest,
    validate_entry,
    write_manifest,
)
from sslhsic_tf.zoo.paths import ENV_VAR, MANIFEST_NAME, check_name, resolve_root, safe_join

# Kept out of the zoo package's dependencies on TensorFlow: read without importing serving.
_EXPORT_METADATA = "sslhsic_tf_export.json"  # serving.metadata.METADATA_FILENAME


#: The published manifest inside an installed package (setup.py copies exports/manifest.json
#: there when it builds a wheel); a clone reads the repository's exports/manifest.json itself.
PACKAGE_FOLDER = pathlib.Path(__file__).resolve().parent


def repository_exports():
    """The repository's exports/ folder beside the package (it exists in a clone)."""
    return PACKAGE_FOLDER.parents[1] / "exports"


def _published_folder():
    """The folder whose manifest.json is the published zoo: the package's, else the clone's."""
    if (PACKAGE_FOLDER / MANIFEST_NAME).is_file():
        return PACKAGE_FOLDER
    return repository_exports()


def _catalogue(root):
    """(manifest, zoo folder or None): an explicit `root` / $SSLHSIC_ZOO is a local zoo (its
    own manifest and files); otherwise the published zoo (None: files found by `_locate`)."""
    if root is not None or os.environ.get(ENV_VAR):
        zoo_root = resolve_root(root)
        return read_manifest(zoo_root), zoo_root
    return read_manifest(_published_folder()), None


def _locate(entry, zoo_root, cache_dir):
    """(folder of the entry's files, where): the local zoo's, else the clone's exports/ where
    it holds the entry, else the cache's (which may not exist yet)."""
    label = "zoo model folder"
    if zoo_root is not None:
        return safe_join(zoo_root, entry["folder"], label), "zoo folder"
    exports = repository_exports()
    if exports.is_dir():
        folder = safe_join(exports, entry["folder"], label)
        if folder.is_dir():
            return folder, "repository"
    return safe_join(remote.cache_dir(cache_dir), entry["folder"], label), "cache"


def list_models(root=None):
    """Sorted names of the models in the zoo at `root` (default: $SSLHSIC_ZOO, else the
    published zoo, downloaded or not)."""
    return sorted(_catalogue(root)[0]["models"])


def _entry(name, models, where):
    check_name(name)
    if name not in models:
        close = difflib.get_close_matches(name, sorted(models), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        available = ", ".join(sorted(models)) or "none"
        raise ValueError(f"unknown zoo model {name!r} in {where}; {hint}available: {available}")
    return models[name]


def info(name, root=None, cache_dir=None):
    """The manifest entry of `name` plus `name`, `path` (absolute path of its folder: the local
    zoo's, the clone's exports/, or the cache's), `source` ("zoo folder", "repository" or
    "cache") and `available` (whether that folder exists: False before a download).

    Includes `input_shape` `[H, W, 3]`, `feature_dim`, `method`, `architecture`, `training`,
    `evaluation` (each figure with its protocol) and `files`. Files are NOT verified here.
    """
    manifest, zoo_root = _catalogue(root)
    entry = copy.deepcopy(_entry(name, manifest["models"], zoo_root or "the published zoo"))
    path, source = _locate(entry, zoo_root, cache_dir)
    return {**entry, "name": name, "path": str(path), "source": source,
            "available": path.is_dir()}


def verify(name, root=None, cache_dir=None):
    """Checks every file of `name` (no links, none missing or extra, size, SHA-256); returns info.

    Raises `ZooIntegrityError` (a ValueError) listing every problem, each naming its file, and
    FileNotFoundError for a published entry that is not downloaded yet.
    """
    desc = info(name, root, cache_dir)
    if desc["source"] == "cache" and not desc["available"]:
        raise FileNotFoundError(
            f"zoo model {name!r} is not downloaded ({desc['path']}): `sslhsic-zoo download "
            f"{name}` or zoo.download({name!r})")
    verify_folder(desc["path"], desc["files"], f"zoo model {name!r}")
    return desc


def download(name, *, url=None, cache_dir=None, force=False, progress=None, root=None):
    """The verified folder of `name`, downloaded into the cache where no copy is found.

    Looks in order at: `root` / $SSLHSIC_ZOO (never downloads), the clone's exports/, the cache
    (`zoo.remote.cache_dir`); then fetches the entry's archive from `url`, $SSLHSIC_ZOO_URL or
    the manifest's base_url. `force`: fetch it again into the cache (a damaged copy is refused
    otherwise). `progress`: None shows it for files above a few MB. Returns a pathlib.Path.
    """
    manifest, zoo_root = _catalogue(root)
    entry = _entry(name, manifest["models"], zoo_root or "the published zoo")
    path, source = _locate(entry, zoo_root, cache_dir)
    if source != "cache":
        verify_folder(path, entry["files"], f"zoo model {name!r}")
        return path
    return remote.download(name, entry, manifest, url=url, cache=cache_dir, force=force,
                           progress=progress)


def load(name, root=None, *, url=None, cache_dir=None):
    """`download(name)` (verified, fetched where needed), then `tf.saved_model.load` of it.

    The result is callable as `obj(images, training=False)` (float32 RGB `[B, H, W, 3]` in
    [0, 1] at `info(name)["input_shape"]`) -> float32 `[B, feature_dim]`. For fine-tuning in
    tf_keras, `hub.KerasLayer(str(zoo.download(name)), trainable=True)`.
    (Files are trusted between the check and the load: do not load from a folder others can
    write to.)
    """
    import tensorflow as tf

    return tf.saved_model.load(str(download(name, url=url, cache_dir=cache_dir, root=root)))


def _record_files(entry, name, folder):
    """Sets `entry`'s files (size, SHA-256), total size and archive record from `folder`."""
    entry["files"] = scan_folder(folder)
    entry["total_size"] = sum(f["size"] for f in entry["files"])
    entry["archive"] = remote.archive_record(name, folder, entry["files"])


#: The Keras 3 artefact inside each entry's folder: the encoder as a `.keras` file (float32).
KERAS_FILE = "encoder.keras"


def load_model(name, root=None, *, url=None, cache_dir=None):
    """The entry's encoder as a trainable `keras.Model` (its `.keras` artefact), on any Keras
    backend (TensorFlow, JAX, PyTorch): images `[B, H, W, 3]` in [0, 1] -> `[B, F]`, with the
    SavedModel's features; `model.pyramid_outputs` holds the stage outputs by stride
    (`models.feature_pyramid(model)` makes a model of them). Found or downloaded and verified
    as `download(name)`."""
    from sslhsic_tf import models, serving

    folder = download(name, url=url, cache_dir=cache_dir, root=root)
    path = folder / KERAS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"zoo model {name!r} has no Keras artefact ({KERAS_FILE}); add it from its "
            f"SavedModel with zoo.add_keras_artefact({name!r}) in the zoo folder")
    model = serving.load_keras(path, compile=False)
    try:
        model.pyramid_outputs = models.pyramid_outputs(model)
    except ValueError:  # not a ResNet of this library
        pass
    return model


def add_keras_artefact(name, root=None):
    """Writes `encoder.keras` into the folder of entry `name` of the zoo at `root` (default
    `zoo.root()`), rebuilt from the entry's SavedModel weights and checked to give its features
    (`serving.resnet_from_saved_model`), and records it (files, archive). Returns the info."""
    from sslhsic_tf import serving

    zoo_root = resolve_root(root)
    desc = verify(name, zoo_root)
    folder = pathlib.Path(desc["path"])
    if (folder / KERAS_FILE).exists():
        return desc
    arch = desc["architecture"]
    encoder, padding = serving.resnet_from_saved_model(
        folder, depth=arch["depth"], width_multiplier=arch["width_multiplier"],
        cifar_stem=arch["stem"] == "cifar", image_size=desc["input_shape"][:2])
    serving.save_keras(encoder, folder / KERAS_FILE)
    with locked(zoo_root):
        doc = read_manifest(zoo_root)
        entry = doc["models"][name]
        _record_files(entry, name, folder)
        entry["architecture"]["padding"] = padding
        write_manifest(zoo_root, doc)
    return info(name, zoo_root)


def pack(name, out_dir, root=None, cache_dir=None):
    """Writes `<out_dir>/<name>.tar` (the entry's archive, byte for byte what the manifest's
    `archive` record describes) and `<name>.tar.sha256`; returns the archive's path.

    Publishing: `pack` every entry, upload the archives to one folder, set the manifest's
    `base_url` to that folder's URL."""
    desc = verify(name, root, cache_dir)
    out_dir = pathlib.Path(os.fspath(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    record = desc.get("archive") or remote.archive_record(name, desc["path"], desc["files"])
    path = out_dir / record["file"]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as out:
        remote.write_archive(desc["path"], desc["files"], out)
    actual = {"file": record["file"], "size": tmp.stat().st_size, "sha256": sha256_file(tmp)}
    if actual != record:
        tmp.unlink()
        raise ZooIntegrityError(
            f"zoo model {name!r}: the archive of its files ({actual['size']} bytes, "
            f"{actual['sha256'][:16]}...) differs from the manifest's archive record "
            f"({record['size']} bytes, {record['sha256'][:16]}...); re-record it with "
            "add_entry(..., replace=True)")
    os.replace(tmp, path)
    path.with_name(path.name + ".sha256").write_text(f"{record['sha256']}  {record['file']}\n")
    return path


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
    _record_files(entry, name, folder)
    validate_entry(entry, f"add_entry({name!r})")
    with locked(zoo_root):
        doc = read_manifest(zoo_root)
        _check_free(doc["models"], name, rel, replace, zoo_root)
        doc["models"][name] = entry
        write_manifest(zoo_root, doc)
    return info(name, zoo_root)


def record_archives(root=None):
    """Adds (or refreshes) every entry's `archive` record in the zoo at `root` (default
    `zoo.root()`) from its files; returns {name: record}."""
    zoo_root = resolve_root(root)
    with locked(zoo_root):
        doc = read_manifest(zoo_root)
        out = {}
        for name, entry in doc["models"].items():
            folder = safe_join(zoo_root, entry["folder"], f"zoo model {name!r} folder")
            verify_folder(folder, entry["files"], f"zoo model {name!r}")
            entry["archive"] = out[name] = remote.archive_record(name, folder, entry["files"])
        write_manifest(zoo_root, doc)
    return out
