"""The zoo folder, and the rules that keep names and paths from a manifest inside it.

A manifest is data from disk, possibly edited by hand or by someone else: every name and relative
path in it is checked before use. Rules:

- model names: 1-128 characters from `A-Z a-z 0-9 . _ -`, starting with a letter or digit;
- relative paths: POSIX, non-empty, not absolute, no drive letter or backslash, and no empty,
  `.` or `..` component;
- no symbolic link anywhere between the zoo folder and a model's files, whatever it points to
  (SavedModels never need one), and the resolved path must lie inside the zoo folder.
"""

import os
import pathlib
import re

ENV_VAR = "SSLHSIC_ZOO"
MANIFEST_NAME = "manifest.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def root():
    """The zoo folder entries are added to: `$SSLHSIC_ZOO` if set, else the repository's
    `exports/` (reading without a root uses the published catalogue: `catalog._catalogue`).

    The repository folder is found relative to the package (`sslhsic_tf/../exports`), which is
    the checkout for an editable install. The folder need not exist yet.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser().absolute()
    return pathlib.Path(__file__).resolve().parents[2] / "exports"


def resolve_root(zoo_root=None):
    """`zoo_root` (default: `root()`) as an absolute path, checked to be an existing folder."""
    folder = root() if zoo_root is None else pathlib.Path(os.fspath(zoo_root)).expanduser()
    folder = folder.absolute()
    if not folder.is_dir():
        if zoo_root is not None:
            hint = ""
        elif os.environ.get(ENV_VAR):
            hint = f" (named by ${ENV_VAR}; set it to an existing zoo folder)"
        else:
            hint = (f"; new entries go into the repository's exports/ folder: outside a clone, "
                    f"set ${ENV_VAR}=FOLDER (or pass root=)")
        raise FileNotFoundError(f"zoo folder {folder} does not exist{hint}")
    return folder


def check_name(name):
    """Raises unless `name` is a valid model name; returns it."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"name {name!r} is not a valid zoo model name: 1-128 characters from "
            "A-Z a-z 0-9 . _ -, starting with a letter or digit"
        )
    return name


def check_relative_path(rel, what):
    """Raises ValueError unless `rel` is a safe relative POSIX path; returns its parts."""
    if not isinstance(rel, str) or not rel:
        raise ValueError(f"{what} must be a non-empty relative path string; got {rel!r}")
    if "\\" in rel or "\x00" in rel or rel.startswith("/") or re.match(r"[A-Za-z]:", rel):
        raise ValueError(f"{what} {rel!r} must be a relative POSIX path inside the zoo folder")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"{what} {rel!r} must not contain empty, '.' or '..' components (it must stay "
            "inside the zoo folder)"
        )
    return parts


def safe_join(base, rel, what):
    """`base/rel` after checking `rel`, that no component is a symlink, and that it stays in `base`.

    `base` itself may be a symlink (e.g. a zoo folder mounted elsewhere); nothing below it may.
    Components that do not exist are allowed (the caller checks existence).
    """
    parts = check_relative_path(rel, what)
    path = pathlib.Path(base)
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ValueError(
                f"{what} {rel!r}: {path} is a symbolic link; links are not allowed in the zoo"
            )
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base:
        raise ValueError(f"{what} {rel!r} resolves outside the zoo folder {base}")
    return path
