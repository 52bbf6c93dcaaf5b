"""The zoo manifest (`<zoo>/manifest.json`): schema, validation, locked atomic updates.

```
{"format": "sslhsic_tf.zoo", "version": 1,
 "base_url": "https://.../zoo" or null (where the published archives lie; zoo/remote.py),
 "models": {
   "<name>": {
     "folder": "<relative path of the SavedModel folder>",
     "method": "ssl_hsic",
     "architecture": {"name": "resnet", "depth": 50, "width_multiplier": 1, "stem": "imagenet"},
     "training": {"dataset": "imagenet2012", "epochs": 1000, ...},
     "evaluation": [{"metric": "top1", "value": 74.8, "protocol": "linear probe, offline, ...",
                     "dataset": "...", ...}, ...],
     "feature_dim": 2048, "input_shape": [224, 224, 3],
     "files": [{"path": "saved_model.pb", "size": 123, "sha256": "<64 hex>"}, ...],
     "archive": {"file": "<name>.tar", "size": 456, "sha256": "<64 hex>"},
     "total_size": 123, "created": "<UTC ISO time>", "sslhsic_tf_version": "...",
     "export_kind": "...", "notes": "..."}}}
```

Extra keys in an entry, its architecture, training or evaluation figures are kept. JSON only (no
pickle); NaN/Infinity are refused both ways.
"""

import contextlib
import json
import math
import os
import re
import tempfile

from sslhsic_tf.zoo.paths import MANIFEST_NAME, check_name, check_relative_path

FORMAT = "sslhsic_tf.zoo"
VERSION = 1
STEMS = ("cifar", "imagenet")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """The manifest, or an entry about to be written to it, breaks the schema."""


def empty_manifest():
    return {"format": FORMAT, "version": VERSION, "models": {}}


def _fail(where, message):
    raise ManifestError(f"{where} {message}")


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(where, f"must be a positive int; got {value!r}")


def _text(value, where):
    if not isinstance(value, str) or not value.strip():
        _fail(where, f"must be a non-empty string; got {value!r}")


def _finite_number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"must be a finite number; got {value!r}")


def _dict(value, where):
    if not isinstance(value, dict):
        _fail(where, f"must be a dict; got {type(value).__name__}")


def validate_entry(entry, where, *, check_files=True):
    """Raises ManifestError (message starts with `where`) unless `entry` follows the schema.

    `check_files=False` skips the `files` list (for an entry whose files are not hashed yet).
    """
    _dict(entry, where)
    required = ("folder", "method", "architecture", "training", "evaluation", "feature_dim",
                "input_shape", "files")
    missing = [k for k in required if k not in entry]
    if missing:
        _fail(where, f"lacks {missing}")
    try:
        check_relative_path(entry["folder"], f"{where}.folder")
    except ValueError as err:
        raise ManifestError(str(err)) from None
    _text(entry["method"], f"{where}.method")

    arch = entry["architecture"]
    _dict(arch, f"{where}.architecture")
    for key in ("name", "depth", "width_multiplier", "stem"):
        if key not in arch:
            _fail(
                f"{where}.architecture",
                f"lacks {key!r} (needs name, depth, width_multiplier, stem)",
            )
    _text(arch["name"], f"{where}.architecture.name")
    _positive_int(arch["depth"], f"{where}.architecture.depth")
    _finite_number(arch["width_multiplier"], f"{where}.architecture.width_multiplier")
    if arch["width_multiplier"] <= 0:
        _fail(f"{where}.architecture.width_multiplier", "must be positive")
    if arch["stem"] not in STEMS:
        _fail(f"{where}.architecture.stem", f"must be one of {STEMS}; got {arch['stem']!r}")

    train = entry["training"]
    _dict(train, f"{where}.training")
    for key in ("dataset", "epochs"):
        if key not in train:
            _fail(f"{where}.training", f"lacks {key!r} (needs dataset, epochs)")
    _text(train["dataset"], f"{where}.training.dataset")
    _positive_int(train["epochs"], f"{where}.training.epochs")

    figures = entry["evaluation"]
    if not isinstance(figures, list):
        _fail(f"{where}.evaluation", f"must be a list of figures; got {type(figures).__name__}")
    for i, fig in enumerate(figures):
        at = f"{where}.evaluation[{i}]"
        _dict(fig, at)
        for key in ("metric", "value", "protocol"):
            if key not in fig:
                _fail(at, f"lacks {key!r}: every figure needs metric, value and its protocol")
        _text(fig["metric"], f"{at}.metric")
        _finite_number(fig["value"], f"{at}.value")
        _text(fig["protocol"], f"{at}.protocol")

    _positive_int(entry["feature_dim"], f"{where}.feature_dim")
    shape = entry["input_shape"]
    if not isinstance(shape, list) or len(shape) != 3 or shape[-1] != 3:
        _fail(f"{where}.input_shape", f"must be [height, width, 3]; got {shape!r}")
    for i, dim in enumerate(shape):
        _positive_int(dim, f"{where}.input_shape[{i}]")

    if "archive" in entry:
        record = entry["archive"]
        _dict(record, f"{where}.archive")
        if set(record) != {"file", "size", "sha256"}:
            _fail(f"{where}.archive", f"must have exactly file, size, sha256; got {sorted(record)}")
        try:
            check_name(record["file"][:-4] if str(record["file"]).endswith(".tar") else "")
        except (TypeError, ValueError):
            _fail(f"{where}.archive.file", f"must be NAME.tar (a plain file name); got "
                  f"{record['file']!r}")
        _positive_int(record["size"], f"{where}.archive.size")
        if not isinstance(record["sha256"], str) or not _SHA256.fullmatch(record["sha256"]):
            _fail(f"{where}.archive.sha256", f"must be 64 lowercase hex digits; got "
                  f"{record['sha256']!r}")
    if "notes" in entry and not isinstance(entry["notes"], str):
        _fail(f"{where}.notes", f"must be a string; got {type(entry['notes']).__name__}")
    if not check_files:
        return
    files = entry["files"]
    if not isinstance(files, list) or not files:
        _fail(f"{where}.files", "must be a non-empty list")
    seen = set()
    for i, f in enumerate(files):
        at = f"{where}.files[{i}]"
        _dict(f, at)
        if set(f) != {"path", "size", "sha256"}:
            _fail(at, f"must have exactly path, size, sha256; got {sorted(f)}")
        try:
            check_relative_path(f["path"], f"{at}.path")
        except ValueError as err:
            raise ManifestError(str(err)) from None
        if f["path"] in seen:
            _fail(f"{at}.path", f"{f['path']!r} is listed twice")
        seen.add(f["path"])
        if isinstance(f["size"], bool) or not isinstance(f["size"], int) or f["size"] < 0:
            _fail(f"{at}.size", f"must be a non-negative int; got {f['size']!r}")
        if not isinstance(f["sha256"], str) or not _SHA256.fullmatch(f["sha256"]):
            _fail(f"{at}.sha256", f"must be 64 lowercase hex digits; got {f['sha256']!r}")


def validate_manifest(doc, source):
    """Raises ManifestError naming `source` unless `doc` is a valid manifest."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: the manifest must be a JSON object")
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ManifestError(
            f"{source}: expected format {FORMAT!r} version {VERSION}; got "
            f"{doc.get('format')!r} version {doc.get('version')!r}"
        )
    if doc.get("base_url") is not None and not isinstance(doc.get("base_url"), str):
        raise ManifestError(f"{source}: 'base_url' must be a URL string or null")
    models = doc.get("models")
    if not isinstance(models, dict):
        raise ManifestError(f"{source}: 'models' must be an object mapping names to entries")
    for name, entry in models.items():
        try:
            check_name(name)
        except (TypeError, ValueError) as err:
            raise ManifestError(f"{source}: {err}") from None
        validate_entry(entry, f"{source}: models[{name!r}]")


def _refuse_constant(constant):
    raise ValueError(f"{constant} is not allowed in a zoo manifest")


def read_manifest(zoo_root):
    """The validated manifest of the zoo at `zoo_root` (an empty one if the file does not exist)."""
    path = os.path.join(zoo_root, MANIFEST_NAME)
    if os.path.islink(path):
        raise ManifestError(f"{path} is a symbolic link; links are not allowed in the zoo")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return empty_manifest()
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise ManifestError(f"{path} is not valid JSON: {err}") from None
    validate_manifest(doc, str(path))
    return doc


def dump_manifest(doc):
    """The manifest's JSON text (sorted keys, 2-space indent, NaN refused)."""
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_manifest(zoo_root, doc):
    """Validates `doc` and replaces `<zoo_root>/manifest.json` atomically (temp file + rename)."""
    path = os.path.join(zoo_root, MANIFEST_NAME)
    validate_manifest(doc, path)
    text = dump_manifest(doc)
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=zoo_root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(zoo_root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def locked(zoo_root):
    """Holds an exclusive lock on the zoo folder (flock on the folder itself, no lock file), so
    that concurrent `add_entry` calls do not lose each other's updates. No-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(zoo_root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
