"""Writing an export folder atomically: build it beside the target, then rename it into place."""

import contextlib
import os
import pathlib
import secrets
import shutil

from sslhsic_tf.serving.contract import METADATA_FILENAME


def _looks_like_export(folder):
    return (
        not any(folder.iterdir())
        or (folder / "saved_model.pb").is_file()
        or (folder / METADATA_FILENAME).is_file()
    )


@contextlib.contextmanager
def atomic_directory(path, *, overwrite):
    """Yields an empty temporary folder beside `path`; on success it is renamed to `path`.

    A failure leaves `path` untouched (no half-written export). With `overwrite=True` an existing
    export (a folder with `saved_model.pb` or our metadata file, or an empty folder) is replaced;
    any other existing folder or file is refused, so a typo cannot delete unrelated data.
    """
    path = pathlib.Path(os.fspath(path)).absolute()
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise FileExistsError(f"path {path} exists and is not a folder; choose another path")
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"path {path} exists; pass overwrite=True to replace it")
        if not _looks_like_export(path):
            raise FileExistsError(
                f"path {path} exists and is not an export folder (no saved_model.pb or "
                f"{METADATA_FILENAME}); refusing to replace it"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(6)}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{secrets.token_hex(6)}"
            os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            if old is not None:
                os.rename(old, path)
            raise
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
