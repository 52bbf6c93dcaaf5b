"""Zoo downloads against a real HTTP server on the loopback interface (tests/zoo/http_server.py):
download and load, resume after a cut connection, HTTP errors, damaged and truncated files,
redirect loops, unsafe paths, concurrent loaders, offline, file:// URLs, the command line."""

import io
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import time

import numpy as np
import pytest

from sslhsic_tf import serving, zoo
from sslhsic_tf.zoo import catalog, cli, remote
from tests.serving.encoders import images, tiny_encoder
from tests.zoo.http_server import ZooServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "tiny"
ARCHIVE_PATH = f"/zoo/{NAME}.tar"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A zoo of one real export with its manifest (archive record included) and the archive's
    bytes as `sslhsic-zoo pack` writes them."""
    encoder = tiny_encoder(seed=61)
    x = images(2, 8, 8, seed=62)
    root = tmp_path_factory.mktemp("published") / "zoo"
    root.mkdir()
    serving.export_hub(encoder, root / NAME, image_size=8)
    zoo.add_entry(root / NAME, name=NAME, method="ssl_hsic",
                  architecture={"depth": 18, "width_multiplier": 1, "stem": "cifar"},
                  training={"dataset": "cifar10", "epochs": 1}, root=root)
    packed = zoo.pack(NAME, tmp_path_factory.mktemp("packed"), root=root)
    return {"root": root, "archive": packed.read_bytes(), "x": x,
            "expected": encoder(x, training=False).numpy(),
            "record": zoo.info(NAME, root=root)["archive"]}


@pytest.fixture
def catalogue(published, tmp_path, monkeypatch):
    """The published catalogue is the test zoo's manifest; no clone exports/ to find files in;
    a fresh cache; no environment overrides."""
    for var in (zoo.ENV_VAR, zoo.URL_ENV, zoo.CACHE_ENV):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "catalogue"
    folder.mkdir()
    shutil.copy(published["root"] / "manifest.json", folder / "manifest.json")
    monkeypatch.setattr(catalog, "_published_folder", lambda: folder)
    monkeypatch.setattr(catalog, "repository_exports", lambda: tmp_path / "no_clone")
    return {"manifest": folder / "manifest.json", "cache": tmp_path / "cache"}


def _features(obj, x):
    return obj(x, training=False).numpy()


def test_pack_is_deterministic_and_matches_the_record(published, tmp_path):
    record = published["record"]
    assert record["file"] == "tiny.tar" and record["size"] == len(published["archive"])
    again = zoo.pack(NAME, tmp_path, root=published["root"]).read_bytes()
    assert again == published["archive"]
    import hashlib

    assert hashlib.sha256(again).hexdigest() == record["sha256"]
    assert (tmp_path / "tiny.tar.sha256").read_text().split() == [record["sha256"], "tiny.tar"]
    with tarfile.open(fileobj=io.BytesIO(again)) as tar:
        members = tar.getmembers()
    listed = [f["path"] for f in zoo.info(NAME, root=published["root"])["files"]]
    assert [m.name for m in members] == sorted(listed)
    assert all(m.isfile() and m.mtime == 0 and m.uid == 0 for m in members)


def test_download_and_load(published, catalogue):
    with ZooServer({ARCHIVE_PATH: published["archive"]}) as server:
        assert not zoo.info(NAME, cache_dir=catalogue["cache"])["available"]
        loaded = zoo.load(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
        assert len(server.gets(ARCHIVE_PATH)) == 1
        np.testing.assert_allclose(_features(loaded, published["x"]), published["expected"],
                                   rtol=1e-5, atol=1e-6)
        desc = zoo.verify(NAME, cache_dir=catalogue["cache"])
        assert desc["source"] == "cache" and desc["path"] == str(catalogue["cache"] / NAME)
        # Nothing left over: the entry's folder, the lock folder, an empty partial folder.
        assert sorted(os.listdir(catalogue["cache"])) == [".locks", ".partial", NAME]
        assert os.listdir(catalogue["cache"] / ".partial") == []
        # A second load reads the cache: no new request.
        zoo.load(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
        assert len(server.gets(ARCHIVE_PATH)) == 1


def test_base_url_from_the_environment_and_the_manifest(published, catalogue, monkeypatch):
    with ZooServer({ARCHIVE_PATH: published["archive"]}) as server:
        monkeypatch.setenv(zoo.URL_ENV, server.url + "/zoo")
        monkeypatch.setenv(zoo.CACHE_ENV, str(catalogue["cache"]))
        zoo.download(NAME)
        assert (catalogue["cache"] / NAME / "saved_model.pb").is_file()
        monkeypatch.delenv(zoo.URL_ENV)
        doc = json.loads(catalogue["manifest"].read_text())
        doc["base_url"] = server.url + "/zoo/"
        catalogue["manifest"].write_text(json.dumps(doc))
        zoo.download(NAME, force=True)
        assert len(server.gets(ARCHIVE_PATH)) == 2


def test_resume_after_the_server_cuts_the_connection(published, catalogue):
    with ZooServer({ARCHIVE_PATH: published["archive"]}, cut_once={ARCHIVE_PATH}) as server:
        path = zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
        first, second = server.gets(ARCHIVE_PATH)
        assert first[1] is None
        # Resumed from what had reached the file (whole chunks before the cut), not from 0.
        offset = int(second[1].removeprefix("bytes=").removesuffix("-"))
        assert 0 < offset <= len(published["archive"]) // 2
    np.testing.assert_allclose(_features(zoo.load(NAME, cache_dir=catalogue["cache"]),
                                         published["x"]), published["expected"], rtol=1e-5,
                               atol=1e-6)
    assert path == catalogue["cache"] / NAME


def test_http_404_is_one_line_naming_entry_url_status_and_override(catalogue):
    with ZooServer({}) as server:
        with pytest.raises(zoo.ZooDownloadError) as err:
            zoo.load(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
    message = str(err.value)
    assert "\n" not in message
    for part in (repr(NAME), f"{server.url}/zoo/tiny.tar", "HTTP 404", zoo.URL_ENV, "url="):
        assert part in message
    assert not (catalogue["cache"] / NAME).exists()


def test_archive_with_other_bytes_is_refused_and_deleted(published, catalogue):
    damaged = bytearray(published["archive"])
    damaged[len(damaged) // 3] ^= 0xFF  # same size, one byte differs
    with ZooServer({ARCHIVE_PATH: bytes(damaged)}) as server:
        with pytest.raises(zoo.ZooIntegrityError, match="different or damaged"):
            zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
    assert not (catalogue["cache"] / NAME).exists()
    assert os.listdir(catalogue["cache"] / ".partial") == []


def test_truncated_archive_from_the_server_fails_after_bounded_tries(published, catalogue):
    short = published["archive"][: len(published["archive"]) - 1000]
    with ZooServer({ARCHIVE_PATH: short}) as server:
        start = time.monotonic()
        with pytest.raises(zoo.ZooDownloadError, match="before the last byte"):
            zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
        assert time.monotonic() - start < 30
        assert len(server.gets(ARCHIVE_PATH)) <= 2 * (remote._RESUMES + 1)
    assert not (catalogue["cache"] / NAME).exists()


def test_damaged_cache_is_refused_and_fetched_again_only_with_force(published, catalogue):
    with ZooServer({ARCHIVE_PATH: published["archive"]}) as server:
        url = server.url + "/zoo"
        zoo.download(NAME, url=url, cache_dir=catalogue["cache"])
        variables = catalogue["cache"] / NAME / "variables" / "variables.data-00000-of-00001"
        variables.write_bytes(variables.read_bytes()[:-8])  # truncated in the cache
        with pytest.raises(zoo.ZooIntegrityError, match="--force") as err:
            zoo.load(NAME, url=url, cache_dir=catalogue["cache"])
        assert "truncated or modified" in str(err.value)
        assert len(server.gets(ARCHIVE_PATH)) == 1  # not fetched again behind the user's back
        path = zoo.download(NAME, url=url, cache_dir=catalogue["cache"], force=True)
        assert len(server.gets(ARCHIVE_PATH)) == 2
    loaded = zoo.load(NAME, cache_dir=catalogue["cache"])
    np.testing.assert_allclose(_features(loaded, published["x"]), published["expected"],
                               rtol=1e-5, atol=1e-6)
    assert path == catalogue["cache"] / NAME


def test_redirect_loop_fails_fast(catalogue):
    with ZooServer({}, redirect_loop={ARCHIVE_PATH}) as server:
        start = time.monotonic()
        with pytest.raises(zoo.ZooDownloadError, match="redirect loop"):
            zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
        assert time.monotonic() - start < 20
        assert 2 <= len(server.gets(ARCHIVE_PATH)) <= 12


def test_manifest_paths_cannot_leave_the_cache(published, catalogue, tmp_path):
    doc = json.loads(catalogue["manifest"].read_text())
    doc["models"][NAME]["folder"] = "../escape"
    catalogue["manifest"].write_text(json.dumps(doc))
    with pytest.raises(zoo.ManifestError, match=r"'\.\.'"):
        zoo.download(NAME, url="http://127.0.0.1:9/zoo", cache_dir=catalogue["cache"])
    doc["models"][NAME]["folder"] = NAME
    doc["models"][NAME]["archive"]["file"] = "../escape.tar"
    catalogue["manifest"].write_text(json.dumps(doc))
    with pytest.raises(zoo.ManifestError, match="archive.file"):
        zoo.download(NAME, url="http://127.0.0.1:9/zoo", cache_dir=catalogue["cache"])
    assert not (tmp_path / "escape").exists() and not (tmp_path / "escape.tar").exists()


def test_archive_member_outside_the_entry_is_refused(published, catalogue, tmp_path):
    """An archive whose bytes match a (hostile) manifest but hold a `..` member: nothing is
    written outside the cache's staging folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        payload = b"escaped"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    hostile = buffer.getvalue()
    import hashlib

    doc = json.loads(catalogue["manifest"].read_text())
    doc["models"][NAME]["archive"].update(size=len(hostile),
                                          sha256=hashlib.sha256(hostile).hexdigest())
    catalogue["manifest"].write_text(json.dumps(doc))
    with ZooServer({ARCHIVE_PATH: hostile}) as server:
        with pytest.raises(ValueError, match=r"'\.\.'"):
            zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"])
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (catalogue["cache"] / NAME).exists()


def test_offline_fails_within_seconds_with_one_line(catalogue):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(zoo.ZooDownloadError) as err:
        zoo.download(NAME, url=f"http://127.0.0.1:{port}/zoo", cache_dir=catalogue["cache"])
    assert time.monotonic() - start < 15
    message = str(err.value)
    assert "\n" not in message and "no response" in message and zoo.URL_ENV in message
    assert f"127.0.0.1:{port}/zoo/tiny.tar" in message


def test_no_base_url_says_how_to_set_one(catalogue):
    with pytest.raises(zoo.ZooDownloadError, match="no zoo base URL is set") as err:
        zoo.download(NAME, cache_dir=catalogue["cache"])
    assert zoo.URL_ENV in str(err.value)
    with pytest.raises(ValueError, match="file://, http:// or https://"):
        zoo.download(NAME, url="ftp://example.invalid/zoo", cache_dir=catalogue["cache"])


def test_file_url(published, catalogue, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.tar").write_bytes(published["archive"])
    loaded = zoo.load(NAME, url=mirror.as_uri(), cache_dir=catalogue["cache"])
    np.testing.assert_allclose(_features(loaded, published["x"]), published["expected"],
                               rtol=1e-5, atol=1e-6)


_LOADER = textwrap.dedent("""
    import pathlib, sys
    from sslhsic_tf.zoo import catalog
    catalog._published_folder = lambda: pathlib.Path(sys.argv[1])
    catalog.repository_exports = lambda: pathlib.Path(sys.argv[1]) / "no_clone"
    path = catalog.download("tiny", url=sys.argv[2], cache_dir=sys.argv[3])
    print(path)
""")


def test_two_concurrent_loaders_share_one_download(published, catalogue):
    """Two processes fetch the same entry at once (a slow server keeps both in flight): one
    downloads, the other waits on the entry's lock and finds the verified copy."""
    with ZooServer({ARCHIVE_PATH: published["archive"]}, delay=0.05) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-c", _LOADER, str(catalogue["manifest"].parent),
                server.url + "/zoo", str(catalogue["cache"])]
        procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err[-2000:]
            assert out.strip() == str(catalogue["cache"] / NAME)
        assert len(server.gets(ARCHIVE_PATH)) == 1
    zoo.verify(NAME, cache_dir=catalogue["cache"])


def test_command_line(published, catalogue, capsys):
    with ZooServer({ARCHIVE_PATH: published["archive"]}) as server:
        base = ["--cache_dir", str(catalogue["cache"]), "--url", server.url + "/zoo"]
        assert cli.main(base + ["list"]) == 0
        assert "tiny" in capsys.readouterr().out.splitlines()[1].split()[0]
        assert cli.main(base + ["verify"]) == 0
        assert "tiny: not downloaded" in capsys.readouterr().out
        assert cli.main(base + ["download", NAME]) == 0
        assert capsys.readouterr().out.strip() == str(catalogue["cache"] / NAME)
        assert cli.main(base + ["verify", NAME]) == 0
        assert "tiny: ok" in capsys.readouterr().out
        assert cli.main(base + ["info", "tinny"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: unknown zoo model 'tinny'") and "did you mean tiny" in err
        out_dir = catalogue["cache"].parent / "release"
        assert cli.main(base + ["pack", NAME, str(out_dir)]) == 0
        assert (out_dir / "tiny.tar").read_bytes() == published["archive"]


def test_progress_is_shown(published, catalogue, capsys):
    with ZooServer({ARCHIVE_PATH: published["archive"]}) as server:
        zoo.download(NAME, url=server.url + "/zoo", cache_dir=catalogue["cache"], progress=True)
    err = capsys.readouterr().err
    assert "tiny.tar" in err and "(100%)" in err
