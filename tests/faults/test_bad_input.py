"""Bad input, end to end through the scripts: each is ONE line `error: ...` that says what to
change, a non-zero exit code (2: command line, 1: other) and no traceback (--debug shows it).

The cases run as real subprocesses (`python -m sslhsic_tf.pretrain|export|evaluate`), two at a
time, in one module fixture; each test checks one of them. WORKSPACE.md ("Errors and faults")
lists them.
"""

import json
import os

import pytest

from tests.faults import scripts

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DEMO_CONFIG = os.path.join(scripts.ROOT, "configs", "demo.py")


def _cases(npz, bad, tmp):
    """id -> (script, args, exit code, fragments of the error line)."""
    def pretrain(name, *extra, train=None, test=None):
        train = train or f"cifar10_lossless:{npz}:train"
        test = test or f"cifar10_lossless:{npz}:test"
        first = [a for a in extra if a.startswith("--config=")]  # must precede overrides
        extra = [a for a in extra if a not in first]
        args = scripts.tiny_args(npz, tmp / name, total_steps=2, extra=extra)
        args = [a for a in args if not a.startswith(("--config.data.train=", "--config.data.test="))]
        return ["pretrain", first + args + [f"--config.data.train={train}",
                                            f"--config.data.test={test}"]]

    lossless = lambda key: f"cifar10_lossless:{bad[key]}:train"  # noqa: E731

    # A config file that sets a key the loop does not know.
    config_file = tmp / "typo_config.py"
    config_file.write_text(
        "from sslhsic_tf.configs import demo\n\n\ndef get_config():\n"
        "    c = demo.get_config()\n    c.learning_rate = 0.1  # not a config key\n    return c\n")
    broken_config = tmp / "broken_config.py"
    broken_config.write_text("def get_config():\n    raise RuntimeError('no such preset')\n")
    # A finished-looking run folder whose export target exists (checked before the model is read).
    finished = tmp / "finished_run"
    (finished / "export" / "taken").mkdir(parents=True)
    (finished / "config.json").write_text(json.dumps({"config": {"data": {"image_size": 32}}}))
    (finished / "model.keras").write_bytes(b"")
    taken = tmp / "export_taken"
    (taken / "export" / "ssl_hsic_resnet18x0.25_cifar10demo").mkdir(parents=True)

    # Offline: downloads go to a proxy that refuses them; the library's TFDS retry count
    # (utils/backend.TFDS_DOWNLOAD_RETRIES) makes the real download code fail in seconds.
    proxy = "http://127.0.0.1:9"
    offline_env = {"TFDS_DATA_DIR": str(tmp / "tfds"), "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy,
                   "https_proxy": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}

    return {
        "TFDS data that cannot be downloaded (offline)": (
            "pretrain", ["--config=cifar10_simclr", f"--workdir={tmp / 't1'}",
                         "--config.total_steps=2"], 1,
            ["--config.data.dataset=tfds:cifar10:train: TFDS 'cifar10' is not prepared in",
             "could not be downloaded", "pass a local copy with --config.data.dataset="
             "cifar10_archive:PATH"], offline_env),
        "data.dataset on the command line overrides the preset's sources": (
            "pretrain", ["--config=demo", f"--workdir={tmp / 'ds1'}", "--config.total_steps=2",
                         "--config.data.dataset=folder:/nonexistent/dir"], 1,
            ["--config.data.dataset=folder:/nonexistent/dir/train",
             "'/nonexistent/dir/train' does not exist"]),
        "zoo name misspelt": (
            "evaluate", ["--encoder=zoo:ssl_hsic_no_target_resnet18x0.25_cifar1",
                         f"--train=cifar10_lossless:{npz}:train",
                         f"--test=cifar10_lossless:{npz}:test"], 1,
            ["unknown zoo model 'ssl_hsic_no_target_resnet18x0.25_cifar1'",
             "did you mean ssl_hsic_no_target_resnet18x0.25_cifar10"]),
        "unknown config key": (*pretrain("k1", "--config.foo=1"), 2,
                               ["--config.foo=1: unknown config key 'foo'", "keys of config:"]),
        "unknown nested config key (with --config=FILE)": (
            *pretrain("k2", f"--config={DEMO_CONFIG}", "--config.data.colour=1"), 2,
            ["--config.data.colour=1: unknown config key 'colour'", "keys of config.data:"]),
        "preset name misspelt": (*pretrain("k7", "--config=cifar10_simclrr"), 2,
                                 ["--config=cifar10_simclrr: no such config file or preset",
                                  "did you mean cifar10_simclr"]),
        "unknown key of a preset given by name": (
            *pretrain("k8", "--config=cifar10_simclr", "--config.data.colour=1"), 2,
            ["--config.data.colour=1: unknown config key 'colour'"]),
        "config value of the wrong type": (*pretrain("k3", "--config.batch_size=abc"), 2,
                                           ["--config.batch_size=abc", "invalid literal"]),
        "missing config file": (*pretrain("k4", "--config=/nonexistent/cfg.py"), 2,
                                ["--config=/nonexistent/cfg.py: no such config file"]),
        "config file that fails to load": (
            *pretrain("k6", f"--config={broken_config}"), 2,
            ["the config file fails to load: RuntimeError: no such preset"]),
        "unknown flag value": (*pretrain("k5", "--on_nonfinite=ignore"), 2,
                               ["--on_nonfinite=ignore", "stop|rollback"]),
        "unknown method": (*pretrain("m1", "--config.method=simclr2"), 1,
                           ["--config.method='simclr2': unknown method; available:", "ssl_hsic"]),
        "config file with an unknown key": (*pretrain("m2", f"--config={config_file}"), 1,
                                            ["unknown config key(s) config.learning_rate"]),
        "float images outside [0, 1]": (*pretrain("d1", train=lossless("float_0_255")), 1,
                                        ["--config.data.train=", "float images must lie in [0, 1]",
                                         "pass uint8"]),
        "images of a wrong dtype": (*pretrain("d2", train=lossless("int64_pixels")), 1,
                                    ["--config.data.train=", "must be uint8 or float",
                                     "int64"]),
        "labels out of range": (*pretrain("d3", train=lossless("label_12_of_10")), 1,
                                ["--config.data.train=", "labels must be < num_classes=10"]),
        "test data with more classes than the training data": (
            *pretrain("d4", test=f"folder:{bad['twelve_classes']}"), 1,
            ["--config.data.test=", "has 12 classes, the training data 10"]),
        "empty data set (no images)": (*pretrain("d5", train=lossless("no_images")), 1,
                                       ["--config.data.train=", "no images (N = 0)"]),
        "fewer images than one batch": (*pretrain("d7", "--config.batch_size=128"), 1,
                                        ["has 64 images, fewer than one global batch",
                                         "--config.batch_size=128"]),
        "corrupt image file": (*pretrain("c1", train=f"folder:{bad['corrupt_jpeg']}"), 1,
                               ["--config.data.train=", "broken.jpg",
                                "could not be read or decoded"]),
        "truncated npz": (*pretrain("c2", train=lossless("truncated_npz")), 1,
                          ["--config.data.train=", "cannot read the data (BadZipFile"]),
        "global batch not divisible by the replicas": (
            *pretrain("r1", "--logical_cpus=2", "--strategy=mirrored", "--config.batch_size=33"),
            1, ["--config.batch_size=33 is not divisible by the 2 replicas", "(e.g. 32)"]),
        "pretrain export target exists": (
            "pretrain", scripts.tiny_args(npz, taken, total_steps=2), 1,
            ["export target", "exists; pass --overwrite"]),
        "export target exists": (
            "export", [f"--workdir={finished}", "--name=taken"], 1,
            ["taken exists; pass --overwrite to replace it"]),
        "evaluate an encoder that does not exist": (
            "evaluate", ["--encoder=/nonexistent/run", f"--train=cifar10_lossless:{npz}:train",
                         f"--test=cifar10_lossless:{npz}:test"], 1,
            ["--encoder='/nonexistent/run' is not a pretraining run folder"]),
        "evaluate with a missing flag": ("evaluate", [], 2, ["--encoder is required"]),
    }


@pytest.fixture(scope="module")
def outcomes(tiny_npz, bad_data, tmp_path_factory):
    cases = _cases(tiny_npz, bad_data, tmp_path_factory.mktemp("bad_input"))
    debug_case = ("pretrain", cases["unknown config key"][1] + ["--debug"], None)
    results = scripts.run_many([(case[0], case[1], case[4] if len(case) > 4 else None)
                                for case in cases.values()] + [debug_case])
    return cases, dict(zip(cases, results[:-1])), results[-1]


CASE_IDS = [
    "TFDS data that cannot be downloaded (offline)",
    "data.dataset on the command line overrides the preset's sources", "zoo name misspelt",
    "unknown config key", "unknown nested config key (with --config=FILE)",
    "preset name misspelt", "unknown key of a preset given by name",
    "config value of the wrong type", "missing config file", "config file that fails to load",
    "unknown flag value",
    "unknown method", "config file with an unknown key", "float images outside [0, 1]",
    "images of a wrong dtype", "labels out of range",
    "test data with more classes than the training data", "empty data set (no images)",
    "fewer images than one batch", "corrupt image file", "truncated npz",
    "global batch not divisible by the replicas",
    "pretrain export target exists", "export target exists",
    "evaluate an encoder that does not exist", "evaluate with a missing flag",
]


@pytest.mark.parametrize("case", CASE_IDS)
def test_bad_input_gives_one_line_error(outcomes, case, faults):
    faults.inject(f"bad input: {case}")
    cases, results, _ = outcomes
    code, fragments = cases[case][2:4]
    scripts.assert_user_error(results[case], *fragments, code=code)
    faults.survive(f"bad input: {case}")


def test_case_list_is_complete(outcomes):
    cases, _, _ = outcomes
    assert sorted(cases) == sorted(CASE_IDS)


def test_debug_flag_shows_the_traceback(outcomes):
    _, _, debug = outcomes
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "'foo'" in debug.stderr
    assert not scripts.error_lines(debug.stderr)


def test_nothing_was_written_for_refused_runs(outcomes):
    """Runs refused for their config or data leave no checkpoint behind."""
    cases, _, _ = outcomes
    for case in ("unknown method", "float images outside [0, 1]", "corrupt image file"):
        workdir = next(a.split("=", 1)[1] for a in cases[case][1] if a.startswith("--workdir="))
        assert not os.path.exists(os.path.join(workdir, "checkpoints")) or not os.listdir(
            os.path.join(workdir, "checkpoints")), case
