"""A user's install: a fresh virtual environment with a non-editable install of the package, the
current folder elsewhere, loads a real zoo entry served over loopback HTTP (as `sslhsic-zoo pack`
publishes it) and gets the clone's features."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sslhsic_tf import zoo
from tests.zoo.http_server import ZooServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRY = "cissl_resnet18x0.25_cifar10"  # a small real entry (3.6 MB)
SOURCES = ("sslhsic_tf", "configs", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in",
           "constraints.txt")

_USER = textwrap.dedent("""
    import json, pathlib, sys
    import numpy as np
    import sslhsic_tf
    from sslhsic_tf import zoo
    names = zoo.list()
    before = zoo.info(sys.argv[1])["available"]
    encoder = zoo.load(sys.argv[1])
    features = encoder(np.load(sys.argv[2]), training=False).numpy()
    np.save(sys.argv[3], features)
    print(json.dumps({"package": sslhsic_tf.__file__, "names": names, "before": before,
                      "cached": zoo.info(sys.argv[1])["source"]}))
""")


@pytest.mark.timeout(600)
def test_non_editable_install_downloads_and_loads_an_entry(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, source / name)
    (source / "exports").mkdir()
    shutil.copy(ROOT / "exports" / "manifest.json", source / "exports" / "manifest.json")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", str(source)], check=True,
                   capture_output=True, cwd=tmp_path)

    release = tmp_path / "release"
    packed = zoo.pack(ENTRY, release)
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", zoo.ENV_VAR, zoo.URL_ENV, zoo.CACHE_ENV)}
    with ZooServer({f"/release/{packed.name}": packed.read_bytes()}) as server:
        env.update({zoo.URL_ENV: server.url + "/release",
                    zoo.CACHE_ENV: str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"})
        done = subprocess.run([str(python), "-c", _USER, ENTRY, str(tmp_path / "x.npy"),
                               str(tmp_path / "features.npy")], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(server.gets(f"/release/{packed.name}")) == 1
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(venv)), report["package"]  # not the clone
    assert report["names"] == zoo.list()
    assert report["before"] is False and report["cached"] == "cache"
    expected = zoo.load(ENTRY)(x, training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "features.npy"), expected, rtol=1e-4,
                               atol=1e-5)
