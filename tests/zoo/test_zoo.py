"""The zoo: manifest with checksums, list/info/verify/load, and what it refuses."""

import hashlib
import json
import os
import pathlib
import shutil

import numpy as np
import pytest

from sslhsic_tf import serving, zoo
from tests.serving.encoders import images, tiny_encoder

ARCH = {"depth": 18, "width_multiplier": 1, "stem": "cifar"}
TRAINING = {"dataset": "cifar10", "epochs": 3, "batch_size": 8}
EVALUATION = [
    {"metric": "top1", "value": 41.5, "protocol": "kNN k=200 T=0.07, frozen BN",
     "dataset": "cifar10 test"},
    {"metric": "top1", "value": 45.0, "protocol": "linear probe, offline, L-BFGS"},
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One real export (tiny encoder, 8x8) that each test copies into its own zoo."""
    encoder = tiny_encoder(seed=51)
    x = images(2, 8, 8, seed=52)
    path = tmp_path_factory.mktemp("template") / "export"
    serving.export_hub(encoder, path, image_size=8)
    return {"path": path, "x": x, "expected": encoder(x, training=False).numpy()}


def _zoo_with(tmp_path, template, name="tiny", folder=None):
    root = tmp_path / "zoo"
    shutil.copytree(template["path"], root / (folder or name))
    zoo.add_entry(
        root / (folder or name), name=name, method="ssl_hsic", architecture=ARCH,
        training=TRAINING, evaluation=EVALUATION, root=root,
    )
    return root


def _manifest(root):
    return json.loads((root / zoo.MANIFEST_NAME).read_text())


def _write_manifest(root, doc):
    (root / zoo.MANIFEST_NAME).write_text(json.dumps(doc))


def test_add_list_info_load_round_trip(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    assert zoo.list(root) == ["tiny"]
    desc = zoo.info("tiny", root=root)
    assert desc["path"] == str(root / "tiny")
    assert desc["input_shape"] == [8, 8, 3] and desc["feature_dim"] == 8  # from the export
    assert desc["method"] == "ssl_hsic" and desc["training"] == TRAINING
    assert desc["architecture"] == {"name": "resnet", **ARCH}
    assert desc["evaluation"] == EVALUATION
    assert desc["export_kind"] == "tf_hub_reusable_saved_model"
    # Every file of the folder, with its size and SHA-256 (computed here independently).
    on_disk = sorted(
        p.relative_to(root / "tiny").as_posix() for p in (root / "tiny").rglob("*") if p.is_file()
    )
    assert [f["path"] for f in desc["files"]] == on_disk
    assert "sslhsic_tf_export.json" in on_disk and "saved_model.pb" in on_disk
    for f in desc["files"]:
        data = (root / "tiny" / f["path"]).read_bytes()
        assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert desc["total_size"] == sum(f["size"] for f in desc["files"])
    # The manifest on disk is plain JSON with the entry, and no temporary file is left behind.
    assert _manifest(root)["models"]["tiny"]["folder"] == "tiny"
    assert sorted(os.listdir(root)) == ["manifest.json", "tiny"]

    loaded = zoo.load("tiny", root=root)
    np.testing.assert_allclose(
        loaded(template["x"]).numpy(), template["expected"], rtol=1e-5, atol=1e-6
    )


def test_unknown_name_lists_the_available_ones(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    shutil.copytree(template["path"], root / "other")
    zoo.add_entry(root / "other", name="other", method="byol", architecture=ARCH,
                  training=TRAINING, root=root)
    assert zoo.list(root) == ["other", "tiny"]
    for call in (zoo.info, zoo.load, zoo.verify):
        with pytest.raises(ValueError, match=r"unknown zoo model 'nope' .*available: other, tiny"):
            call("nope", root=root)
    with pytest.raises(ValueError, match="not a valid zoo model name"):
        zoo.info("../tiny", root=root)


def _variables_data(root, name="tiny"):
    folder = root / name / "variables"
    (data,) = [p for p in folder.iterdir() if p.name.startswith("variables.data")]
    return data


def test_tampered_file_is_refused_naming_it(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    data = _variables_data(root)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit, same size
    data.write_bytes(bytes(raw))
    rel = data.relative_to(root / "tiny").as_posix()
    with pytest.raises(zoo.ZooIntegrityError, match=rf"file '{rel}' has a different SHA-256"):
        zoo.load("tiny", root=root)


def test_truncated_missing_and_extra_files_are_refused(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    data = _variables_data(root)
    size = data.stat().st_size
    data.write_bytes(data.read_bytes()[: size // 2])
    (root / "tiny" / "fingerprint.pb").unlink()
    (root / "tiny" / "assets" / "extra.txt").write_text("not published")
    with pytest.raises(zoo.ZooIntegrityError) as info:
        zoo.verify("tiny", root=root)
    message = str(info.value)
    assert f"has {size // 2} bytes; the manifest says {size} (truncated" in message
    assert "missing file 'fingerprint.pb'" in message
    assert "unexpected file 'assets/extra.txt'" in message
    with pytest.raises(zoo.ZooIntegrityError):
        zoo.load("tiny", root=root)


def test_symlinks_are_refused(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    # A link among the model's files (pointing outside the zoo) ...
    os.symlink(outside, root / "tiny" / "assets" / "link.bin")
    with pytest.raises(zoo.ZooIntegrityError, match=r"'assets/link.bin' is a symbolic link"):
        zoo.load("tiny", root=root)
    os.unlink(root / "tiny" / "assets" / "link.bin")
    zoo.verify("tiny", root=root)
    # ... the model folder itself replaced by a link to a copy outside the zoo ...
    shutil.move(root / "tiny", tmp_path / "moved")
    os.symlink(tmp_path / "moved", root / "tiny")
    with pytest.raises(ValueError, match="is a symbolic link; links are not allowed"):
        zoo.load("tiny", root=root)
    # ... and an export folder with a link cannot be added.
    os.unlink(root / "tiny")
    shutil.move(tmp_path / "moved", root / "tiny")
    os.symlink(outside, root / "tiny" / "assets" / "link.bin")
    with pytest.raises(ValueError, match="symbolic link"):
        zoo.add_entry(root / "tiny", name="tiny", method="x", architecture=ARCH,
                      training=TRAINING, root=root, replace=True)
    # A manifest that is a link (e.g. to one listing other files) is refused too.
    shutil.move(root / zoo.MANIFEST_NAME, tmp_path / "manifest.json")
    os.symlink(tmp_path / "manifest.json", root / zoo.MANIFEST_NAME)
    with pytest.raises(zoo.ManifestError, match="is a symbolic link"):
        zoo.list(root)


MANIFEST_EDITS = [
    (lambda e: e.update(folder="/etc"), "must be a relative POSIX path"),
    (lambda e: e.update(folder="../outside"), r"must not contain empty, '\.' or '\.\.'"),
    (lambda e: e.update(folder="tiny/../../outside"), r"'\.\.'"),
    (lambda e: e["files"][0].update(path="../../etc/passwd"), r"'\.\.'"),
    (lambda e: e["files"][0].update(path="/etc/passwd"), "relative POSIX path"),
    (lambda e: e["files"][0].update(sha256="abc"), "64 lowercase hex"),
    (lambda e: e["evaluation"][0].pop("protocol"), r"evaluation\[0\] lacks 'protocol'"),
    (lambda e: e["architecture"].update(stem="imagenet21k"), r"architecture.stem must be one of"),
]


def test_manifest_paths_cannot_escape_and_schema_is_checked(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    original = _manifest(root)
    for edit, match in MANIFEST_EDITS:
        doc = json.loads(json.dumps(original))
        edit(doc["models"]["tiny"])
        _write_manifest(root, doc)
        for call in (zoo.load, zoo.info):
            with pytest.raises(zoo.ManifestError, match=match):
                call("tiny", root=root)


def test_manifest_name_and_json_are_checked(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    doc = _manifest(root)
    doc["models"]["../evil"] = doc["models"]["tiny"]
    _write_manifest(root, doc)
    with pytest.raises(zoo.ManifestError, match="not a valid zoo model name"):
        zoo.list(root)
    nan_models = '{"format": "sslhsic_tf.zoo", "version": 1, "models": NaN}'
    (root / zoo.MANIFEST_NAME).write_text(nan_models)
    with pytest.raises(zoo.ManifestError, match="not valid JSON"):
        zoo.list(root)


def test_add_entry_refuses_bad_input_and_leaves_the_manifest_alone(tmp_path, template):
    root = _zoo_with(tmp_path, template)
    before = (root / zoo.MANIFEST_NAME).read_bytes()
    shutil.copytree(template["path"], root / "second")
    shutil.copytree(template["path"], tmp_path / "elsewhere")
    common = dict(method="simclr", architecture=ARCH, training=TRAINING, root=root)
    cases = [
        (dict(name="tiny", export_dir=root / "second"), ValueError, "already exists.*replace=True"),
        (dict(name="second", export_dir=tmp_path / "elsewhere"), ValueError,
         "not inside the zoo folder"),
        (dict(name="a/b", export_dir=root / "second"), ValueError, "not a valid zoo model name"),
        (dict(name="second", export_dir=root / "second",
              evaluation=[{"metric": "top1", "value": 1.0}]),
         zoo.ManifestError, r"evaluation\[0\] lacks 'protocol'"),
        (dict(name="second", export_dir=root / "second",
              evaluation=[{"metric": "top1", "value": float("nan"), "protocol": "kNN"}]),
         TypeError, "JSON values"),
        (dict(name="second", export_dir=root / "second", feature_dim=9), ValueError,
         "feature_dim=9 contradicts"),
        (dict(name="second", export_dir=root / "tiny"), zoo.ManifestError,
         "overlaps the folder 'tiny'"),
        (dict(name="second", export_dir=root / "second" / "variables"), ValueError,
         "no saved_model.pb"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            zoo.add_entry(**{**common, **kwargs})
    bad_arch = dict(common, architecture={"depth": 18, "stem": "cifar"})
    with pytest.raises(zoo.ManifestError, match="lacks 'width_multiplier'"):
        zoo.add_entry(root / "second", name="second", **bad_arch)
    assert (root / zoo.MANIFEST_NAME).read_bytes() == before
    assert sorted(os.listdir(root)) == ["manifest.json", "second", "tiny"]

    zoo.add_entry(root / "second", name="tiny", replace=True, **dict(common, root=root))
    assert zoo.info("tiny", root=root)["folder"] == "second"
    assert zoo.info("tiny", root=root)["method"] == "simclr"


def test_default_root_and_environment_override(tmp_path, template, monkeypatch):
    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    repo = pathlib.Path(__file__).resolve().parents[2]
    assert zoo.root() == repo / "exports"
    root = _zoo_with(tmp_path, template)
    monkeypatch.setenv(zoo.ENV_VAR, str(root))
    assert zoo.root() == root
    assert zoo.list() == ["tiny"] and zoo.info("tiny")["path"] == str(root / "tiny")
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match=r"does not exist \(named by \$SSLHSIC_ZOO; set it"):
        zoo.list()
    monkeypatch.delenv(zoo.ENV_VAR)
    # Without $SSLHSIC_ZOO the catalogue is the published one (the clone's exports/manifest.json).
    published = json.loads((repo / "exports" / "manifest.json").read_text())
    assert zoo.list() == sorted(published["models"])
    # Writing needs a zoo folder: an installed package has no exports/ to add entries to.
    monkeypatch.setattr(zoo.paths, "root", lambda: tmp_path / "site-packages" / "exports")
    with pytest.raises(FileNotFoundError, match=r"does not exist; new entries go into the "
                                                r"repository's exports/ folder: outside a "
                                                r"clone, set \$SSLHSIC_ZOO="):
        zoo.add_entry(root / "tiny", name="other", method="ssl_hsic", architecture=ARCH,
                      training=TRAINING)
    (tmp_path / "empty").mkdir()
    assert zoo.list(tmp_path / "empty") == []


def test_no_pickle_in_serving_or_zoo():
    package = pathlib.Path(zoo.__file__).resolve().parents[1]
    for folder in ("serving", "zoo"):
        for source in (package / folder).glob("*.py"):
            text = source.read_text()
            for forbidden in ("import pickle", "allow_pickle=True", "safe_mode=False", "import dill"):
                assert forbidden not in text, (source, forbidden)
