"""File listings with sizes and SHA-256 digests, and their verification.

A model folder must hold exactly the files its manifest entry lists: a missing file, an extra
file, a size or digest mismatch, a symbolic link (wherever it points) or a special file (FIFO,
device, socket) are all refused. Extra files are refused too, although TensorFlow would ignore
most of them, because a folder that differs from what was published is not what was published.
"""

import hashlib
import os
import pathlib
import stat

_CHUNK = 1 << 20


class ZooIntegrityError(ValueError):
    """A model folder does not match its manifest entry (the message lists every problem)."""


def sha256_file(path):
    """Hex SHA-256 of the file at `path` (read in chunks; a symlink is refused, not followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def walk_folder(folder):
    """Returns `(files, problems)`: `{relative posix path: size}` of regular files, and the
    symlinks / special files found (as messages). Symlinked folders are not entered."""
    files, problems = {}, []
    folder = pathlib.Path(folder)

    def visit(directory, prefix):
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    problems.append(f"{rel!r} is a symbolic link (links are not allowed)")
                elif stat.S_ISDIR(st.st_mode):
                    visit(entry.path, rel + "/")
                elif stat.S_ISREG(st.st_mode):
                    files[rel] = st.st_size
                else:
                    problems.append(f"{rel!r} is not a regular file")

    visit(folder, "")
    return files, problems


def scan_folder(folder):
    """`[{"path", "size", "sha256"}]` for every file under `folder`, sorted by path.

    Raises ValueError if the folder holds a symbolic link or a special file.
    """
    files, problems = walk_folder(folder)
    if problems:
        raise ValueError(f"{folder} cannot be added to the zoo: " + "; ".join(problems))
    return [
        {"path": rel, "size": size, "sha256": sha256_file(pathlib.Path(folder, rel))}
        for rel, size in sorted(files.items())
    ]


def verify_folder(folder, listed, label):
    """Checks `folder` against `listed` (`[{"path", "size", "sha256"}]`); raises ZooIntegrityError.

    Cheap checks (links, missing, extra, sizes) come first; digests are computed only for files
    whose size matches. `label` names the model in the message.
    """
    folder = pathlib.Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise ZooIntegrityError(f"{label}: model folder {folder} is missing or not a folder")
    actual, problems = walk_folder(folder)
    expected = {f["path"]: f for f in listed}
    problems += [f"missing file {rel!r}" for rel in sorted(set(expected) - set(actual))]
    problems += [
        f"unexpected file {rel!r} (not in the manifest)"
        for rel in sorted(set(actual) - set(expected))
    ]
    for rel in sorted(set(expected) & set(actual)):
        want = expected[rel]
        if actual[rel] != want["size"]:
            problems.append(
                f"file {rel!r} has {actual[rel]} bytes; the manifest says {want['size']} "
                "(truncated or modified)"
            )
        elif sha256_file(folder / rel) != want["sha256"]:
            problems.append(f"file {rel!r} has a different SHA-256 than the manifest (modified)")
    if problems:
        raise ZooIntegrityError(
            f"{label}: refusing to load {folder}:\n  - " + "\n  - ".join(problems)
        )
