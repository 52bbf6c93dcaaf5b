"""The model zoo: exported encoders listed in `<zoo>/manifest.json` with a checksum per file.

    zoo.root()                 # $SSLHSIC_ZOO, else the repository's exports/
    zoo.list()                 # names
    zoo.info(name)             # manifest entry + absolute `path`, `input_shape`, `feature_dim`
    zoo.verify(name)           # every file: no links, none missing or extra, size, SHA-256
    zoo.load(name)             # verify, then tf.saved_model.load
    zoo.add_entry(export_dir, name=..., method=..., architecture=..., training=..., evaluation=...)

Security: JSON only (no pickle); names and manifest paths cannot leave the zoo folder (absolute
paths, `..`, and symbolic links anywhere below the zoo folder are refused); a tampered, truncated,
missing or extra file is refused before TensorFlow reads anything.
"""

from sslhsic_tf.zoo.catalog import add_entry, info, load, verify
from sslhsic_tf.zoo.catalog import list_models as list  # noqa: A001 (the documented name)
from sslhsic_tf.zoo.checksums import ZooIntegrityError, sha256_file
from sslhsic_tf.zoo.manifest import ManifestError, read_manifest
from sslhsic_tf.zoo.paths import ENV_VAR, MANIFEST_NAME, root

__all__ = [
    "ENV_VAR",
    "MANIFEST_NAME",
    "ManifestError",
    "ZooIntegrityError",
    "add_entry",
    "info",
    "list",
    "load",
    "read_manifest",
    "root",
    "sha256_file",
    "verify",
]
