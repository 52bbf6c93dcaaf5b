"""The metadata file of an export folder (`sslhsic_tf_export.json`): names and its reader.

No TensorFlow: the zoo catalog reads it too.
"""

import json
import os
import pathlib

METADATA_FILENAME = "sslhsic_tf_export.json"
METADATA_FORMAT = "sslhsic_tf.export"
METADATA_VERSION = 1


def read_export_metadata(path):
    """Reads the contract of an export folder (`sslhsic_tf_export.json`); returns a dict.

    Raises FileNotFoundError if the folder has no metadata file, ValueError if it is not ours.
    """
    folder = pathlib.Path(os.fspath(path))
    file = folder / METADATA_FILENAME
    if not file.is_file():
        raise FileNotFoundError(f"{folder} has no {METADATA_FILENAME}: not an sslhsic_tf export")
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != METADATA_FORMAT:
        raise ValueError(f"{file}: 'format' must be {METADATA_FORMAT!r}")
    if doc.get("version") != METADATA_VERSION:
        raise ValueError(
            f"{file}: unsupported metadata version {doc.get('version')!r} "
            f"(this sslhsic_tf reads version {METADATA_VERSION})"
        )
    return doc
