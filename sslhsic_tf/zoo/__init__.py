"""The model zoo: exported encoders listed in a manifest with a checksum per file.

    zoo.list()                 # names of the published zoo (or of $SSLHSIC_ZOO / root=)
    zoo.info(name)             # manifest entry + `path`, `source`, `available`, `input_shape`, ...
    zoo.load(name)             # found or downloaded, verified, then tf.saved_model.load
    zoo.load_model(name)       # the same entry as a trainable keras.Model (any backend)
    zoo.download(name)         # the verified folder: clone's exports/, cache, else a download
    zoo.verify(name)           # every file: no links, none missing or extra, size, SHA-256
    zoo.pack(name, out_dir)    # the entry's archive for publishing, with its checksum
    zoo.add_entry(export_dir, name=..., method=..., architecture=..., training=..., evaluation=...)

Where files are looked for: an explicit `root=` or $SSLHSIC_ZOO (a local zoo, its own
manifest); else the published manifest (inside the package; the clone's exports/manifest.json)
with the files in the clone's exports/, else in the cache (`remote.cache_dir()`,
$SSLHSIC_ZOO_CACHE), else downloaded into it from the base URL (`url=`, $SSLHSIC_ZOO_URL, the
manifest's base_url). Cards (`zoo.cards`): `annotate` adds evaluation reports, analysis and a
use line to an entry's record; `card`, `table` write them as Markdown. Command line:
`sslhsic-zoo list | info | download | verify | pack | card | table | annotate`.

Security: JSON only (no pickle); names and manifest paths cannot leave the zoo or cache folder
(absolute paths, `..`, and symbolic links anywhere below it are refused); a tampered, truncated,
missing or extra file is refused before TensorFlow reads anything; downloads are checked (size,
SHA-256) before they are unpacked.
"""

from sslhsic_tf.zoo.catalog import (
    KERAS_FILE,
    add_entry,
    add_keras_artefact,
    download,
    info,
    load,
    load_model,
    pack,
    record_archives,
    verify,
)
from sslhsic_tf.zoo.catalog import list_models as list  # noqa: A001 (the documented name)
from sslhsic_tf.zoo.checksums import ZooIntegrityError, sha256_file
from sslhsic_tf.zoo.manifest import ManifestError, read_manifest
from sslhsic_tf.zoo.paths import ENV_VAR, MANIFEST_NAME, root
from sslhsic_tf.zoo.remote import CACHE_ENV, URL_ENV, ZooDownloadError, cache_dir

__all__ = [
    "CACHE_ENV",
    "KERAS_FILE",
    "ENV_VAR",
    "MANIFEST_NAME",
    "ManifestError",
    "URL_ENV",
    "ZooDownloadError",
    "ZooIntegrityError",
    "add_entry",
    "add_keras_artefact",
    "cache_dir",
    "download",
    "info",
    "list",
    "load",
    "load_model",
    "pack",
    "read_manifest",
    "record_archives",
    "root",
    "sha256_file",
    "verify",
]
