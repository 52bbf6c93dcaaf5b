"""Published zoo entries: one deterministic tar archive per entry, fetched into a verified cache.

Where an entry's files come from (`locate`): the repository's `exports/` folder where it exists
(a clone), else the user cache (`cache_dir()`: `$SSLHSIC_ZOO_CACHE`, else
`$XDG_CACHE_HOME/sslhsic_tf/zoo`, else `~/.cache/sslhsic_tf/zoo`), else a download of
`<base URL>/<archive file>` into the cache (`download`). The base URL is the published
manifest's `base_url` (a release sets it there), overridden by `$SSLHSIC_ZOO_URL`, overridden by
an explicit `url=`; `file://`, `http://` and `https://` work.

Safety. The archive is written to `<cache>/.partial/<file>.part`, resumed with an HTTP Range
request when a connection is cut (restarted when the server ignores the range), and checked for
size and SHA-256 before anything is unpacked. Unpacking takes only the regular files the entry
lists, by checked relative paths, into a temporary folder inside the cache, which is verified
file by file and renamed into place. One lock file per entry serialises processes that fetch the
same entry. A file of the cache that no longer matches the manifest is refused
(`ZooIntegrityError`); `download(name, force=True)` fetches the entry again.

Archives (`write_archive`, `archive_record`): POSIX tar, members in path order, owner 0, mode
0644, mtime 0, no compression (SavedModel variables barely compress), so the bytes and their
SHA-256 follow from the files alone and `sslhsic-zoo pack` reproduces what the manifest records.
"""

import contextlib
import hashlib
import io
import os
import pathlib
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request

from sslhsic_tf.zoo.checksums import ZooIntegrityError, verify_folder
from sslhsic_tf.zoo.paths import check_name, check_relative_path, safe_join

CACHE_ENV = "SSLHSIC_ZOO_CACHE"
URL_ENV = "SSLHSIC_ZOO_URL"
#: Files above this many bytes show a progress line while they download (`progress=None`).
PROGRESS_MIN_BYTES = 4 << 20
_CHUNK = 1 << 16
_RESUMES = 5  # cut connections survived per download, each resumed where it stopped
_TIMEOUT = (5.0, 30.0)  # seconds: connect, read between bytes


class ZooDownloadError(OSError):
    """An entry could not be fetched (offline, an HTTP error, a redirect loop, ...)."""


def cache_dir(cache_dir=None):
    """The zoo cache folder: `cache_dir`, else `$SSLHSIC_ZOO_CACHE`, else the XDG cache."""
    if cache_dir is not None:
        return pathlib.Path(os.fspath(cache_dir)).expanduser().absolute()
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return pathlib.Path(base, "sslhsic_tf", "zoo").expanduser().absolute()


def base_url(manifest, url=None):
    """(base URL, where it came from) for downloads: `url=`, `$SSLHSIC_ZOO_URL`, the manifest's
    `base_url`; (None, None) when none is set."""
    for value, origin in ((url, "url="), (os.environ.get(URL_ENV), f"${URL_ENV}"),
                          (manifest.get("base_url"), "the manifest's base_url")):
        if value:
            scheme = urllib.parse.urlsplit(value).scheme
            if scheme not in ("file", "http", "https"):
                raise ValueError(f"zoo base URL {value!r} (from {origin}) must be a file://, "
                                 "http:// or https:// URL")
            return value.rstrip("/"), origin
    return None, None


# --- archives -----------------------------------------------------------------------------

def _tar_info(rel, size):
    info = tarfile.TarInfo(rel)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(folder, files, out):
    """Writes the deterministic tar of `files` (`[{"path", "size", ...}]`) under `folder` to the
    binary file object `out`."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in sorted(files, key=lambda f: f["path"]):
            with open(pathlib.Path(folder, f["path"]), "rb") as src:
                tar.addfile(_tar_info(f["path"], f["size"]), src)


class _HashWriter(io.RawIOBase):
    def __init__(self):
        self.digest, self.size = hashlib.sha256(), 0

    def writable(self):
        return True

    def tell(self):
        return self.size

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def archive_record(name, folder, files):
    """`{"file", "size", "sha256"}` of the archive `write_archive` makes of `files` (hashed as it
    streams; nothing is written)."""
    sink = _HashWriter()
    write_archive(folder, files, sink)
    return {"file": f"{check_name(name)}.tar", "size": sink.size,
            "sha256": sink.digest.hexdigest()}


def _unpack(archive, files, dest):
    """Extracts the listed regular files of `archive` into the empty folder `dest`; refuses any
    other member (links, devices, unlisted or unsafe paths)."""
    wanted = {f["path"]: f for f in files}
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar:
            check_relative_path(member.name, f"archive member {member.name!r}")
            if member.name not in wanted or not member.isfile():
                raise ZooIntegrityError(
                    f"archive {archive} holds {member.name!r}, which is not a file the manifest "
                    "lists; refusing to unpack it")
            target = safe_join(dest, member.name, "archive member")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "xb") as out:
                shutil.copyfileobj(src, out, _CHUNK)


# --- transfer -----------------------------------------------------------------------------

def _session():
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.max_redirects = 10
    retry = Retry(total=2, connect=2, read=2, status=2, backoff_factor=0.3,
                  status_forcelist=(500, 502, 503, 504), allowed_methods=("GET",),
                  raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Progress:
    def __init__(self, label, total, enabled, stream=None):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream or sys.stderr
        self.shown = -1

    def update(self, done):
        if not self.enabled:
            return
        tenth = int(10 * done / max(self.total, 1))
        if tenth != self.shown:
            self.shown = tenth
            end = "\n" if done >= self.total else "\r"
            self.stream.write(f"{self.label}: {done / 1e6:.1f} / {self.total / 1e6:.1f} MB "
                              f"({100 * done / max(self.total, 1):.0f}%){end}")
            self.stream.flush()


def _fail(label, url, what, hint):
    raise ZooDownloadError(f"{label}: cannot download {url}: {what}; {hint}")


def _fetch_http(url, part, size, label, hint, progress):
    """Fetches `url` into `part` until it holds `size` bytes: a cut connection is resumed with a
    Range request (restarted when the server ignores or refuses the range), at most `_RESUMES`
    times; no answer at all (offline, refused) fails at once, after urllib3's retries."""
    import requests

    session = _session()
    for _ in range(_RESUMES + 1):
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            return
        start = have
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with session.get(url, headers=headers, stream=True, timeout=_TIMEOUT) as response:
                status = response.status_code
                if have and status in (200, 416):  # range ignored or refused: start again
                    part.unlink()
                    have = start = 0
                    if status == 416:
                        continue
                elif status not in (200, 206):
                    _fail(label, url, f"HTTP {status} {response.reason}", hint)
                with open(part, "ab" if have else "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        out.write(chunk)
                        have += len(chunk)
                        progress.update(have)
                        if have > size:
                            break
        except requests.TooManyRedirects:
            _fail(label, url, "too many redirects (a redirect loop)", hint)
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as err:
            got = part.stat().st_size if part.exists() else 0
            if got <= start and not start:  # no byte came: offline, refused, no route
                first = str(err).splitlines()[0] if str(err) else ""
                _fail(label, url, f"no response ({type(err).__name__}: {first[:160]})", hint)
            continue  # cut mid-file: resume
        if have >= size:
            return
    got = part.stat().st_size if part.exists() else 0
    _fail(label, url, f"{_RESUMES + 1} tries ended before the last byte ({got} of {size} bytes)",
          hint)


def _fetch_file(url, part, label, hint):
    path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
    try:
        shutil.copyfile(path, part)
    except OSError as err:
        _fail(label, url, f"{type(err).__name__}: {err.strerror or err}", hint)


def fetch_archive(url, part, record, label, hint, progress=None):
    """Downloads `url` to `part` (resuming a partial file), then checks the record's size and
    SHA-256; a mismatch deletes the file and raises `ZooIntegrityError`."""
    part = pathlib.Path(part)
    show = record["size"] >= PROGRESS_MIN_BYTES if progress is None else bool(progress)
    if urllib.parse.urlsplit(url).scheme == "file":
        _fetch_file(url, part, label, hint)
    else:
        _fetch_http(url, part, record["size"], label, hint,
                    _Progress(f"{label} {record['file']}", record["size"], show))
    got = part.stat().st_size
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if got != record["size"] or digest.hexdigest() != record["sha256"]:
        part.unlink()
        raise ZooIntegrityError(
            f"{label}: {url} gave {got} bytes with SHA-256 {digest.hexdigest()[:16]}...; the "
            f"manifest says {record['size']} bytes, {record['sha256'][:16]}... (a different or "
            "damaged file); the download was deleted")


@contextlib.contextmanager
def entry_lock(cache, name):
    """An exclusive lock on `<cache>/.locks/<name>.lock` (no-op without fcntl)."""
    folder = pathlib.Path(cache, ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / f"{name}.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def download(name, entry, manifest, *, url=None, cache=None, force=False, progress=None):
    """Fetches `name` into the cache unless a verified copy is there; returns its folder.

    `force`: delete the cached copy (even a damaged one) and fetch the entry again.
    """
    label = f"zoo model {name!r}"
    cache = cache_dir(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = safe_join(cache, entry["folder"], f"{label} folder")
    with entry_lock(cache, name):
        if target.exists() and not force:
            try:
                verify_folder(target, entry["files"], label)
            except ZooIntegrityError as err:
                raise ZooIntegrityError(
                    f"{err}\n  the cached copy differs from the manifest: fetch it again with "
                    f"`sslhsic-zoo download {name} --force` (zoo.download(name, force=True))"
                ) from None
            return target
        record = entry.get("archive")
        base, origin = base_url(manifest, url)
        hint = (f"point {URL_ENV} (or zoo.load(name, url=...)) at a mirror of the zoo, or "
                "SSLHSIC_ZOO at a folder that holds it")
        if record is None:
            raise ZooDownloadError(f"{label} has no published archive in the manifest; {hint}")
        if base is None:
            raise ZooDownloadError(
                f"{label} is not in {cache} and no zoo base URL is set (no base_url in the "
                f"manifest, no ${URL_ENV}, no url=); {hint}")
        check_name(record["file"].removesuffix(".tar"))
        archive_url = f"{base}/{urllib.parse.quote(record['file'])}"
        partial = cache / ".partial"
        partial.mkdir(exist_ok=True)
        part = partial / f"{record['file']}.part"
        fetch_archive(archive_url, part, record, label, f"from {origin}; {hint}", progress)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache))
        try:
            _unpack(part, entry["files"], staging)
            verify_folder(staging, entry["files"], label)
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        part.unlink()
    return target
