"""The zoo that ships in exports/: every entry verifies, loads without the training code, honours
its input contract, its encoder carries a learned representation (kNN on the embedded CIFAR-10
subset well above a random encoder's ~25%), and its recorded command trains its recorded recipe."""

import json
import os
import re
import shlex

import numpy as np
import pytest
import tensorflow as tf

from absl import flags
from ml_collections import config_flags

from sslhsic_tf import data, evaluation, methods, serving, zoo

NAMES = zoo.list()


def test_the_zoo_has_a_real_cifar10_entry():
    assert "ssl_hsic_no_target_resnet18x0.25_cifar10" in NAMES
    info = zoo.info("ssl_hsic_no_target_resnet18x0.25_cifar10")
    assert info["method"] == "ssl_hsic_no_target" and info["feature_dim"] == 128
    assert info["input_shape"] == [32, 32, 3]
    figures = {(f["metric"], f["protocol"].split(",")[0]): f["value"] for f in info["evaluation"]}
    assert figures[("top1", "linear probe")] > 0.65 and figures[("top1", "kNN")] > 0.65
    assert all(f["protocol"] for f in info["evaluation"])
    # The manifest is portable: no machine-local paths.
    assert "/work/" not in json.dumps(info["training"]) + json.dumps(info["evaluation"])


@pytest.mark.parametrize("name", NAMES)
def test_entry_verifies_loads_and_embeds(name):
    info = zoo.info(name)
    zoo.verify(name)  # every file's size and sha256
    encoder = zoo.load(name)
    size = info["input_shape"][0]
    images = tf.random.uniform((3, size, size, 3))
    out = encoder(images, training=False)
    assert out.shape == (3, info["feature_dim"])
    served = encoder.signatures["serving_default"](images=images)["features"]
    np.testing.assert_allclose(served.numpy(), out.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected float32 RGB"):
        encoder(tf.random.uniform((3, size + 1, size, 3)), training=False)


# name -> (kNN (k = 20) floor, demo train images, demo test images). Measured: 54.6% for the x1
# entry with the first 1,000 / 500 (57.0% with 2,000 / 1,000, 61.2% with all), whose features
# cost 16x more. A random encoder of either shape: ~25%.
LEARNED = {"cissl_resnet18x0.25_cifar10": (0.57, 5000, 1000),  # measured 62.0% (30 epochs, float32)
           "dissl_resnet18x0.25_cifar10_40ep": (0.54, 5000, 1000),  # measured 58.6% (bf16 run)
           "ssl_hsic_no_target_resnet18x0.25_cifar10": (0.60, 5000, 1000),  # measured 65.1%
           "ssl_hsic_no_target_resnet18x0.25_cifar10_40ep_v2": (0.60, 5000, 1000),  # measured 65.5%
           "ssl_hsic_resnet18_cifar10_150ep": (0.48, 1000, 500),
           "ssl_hsic_resnet18x0.25_cifar10_100ep": (0.56, 5000, 1000)}  # measured 61.4% (float32)
CPU_RUNS = ("cissl_resnet18x0.25_cifar10", "dissl_resnet18x0.25_cifar10_40ep",
            "ssl_hsic_no_target_resnet18x0.25_cifar10",
            "ssl_hsic_no_target_resnet18x0.25_cifar10_40ep_v2", "ssl_hsic_resnet18x0.25_cifar10_100ep")
#: Every entry must beat a kNN on the raw pixels of the same images by this much (top-1, k = 20):
#: the queries are CIFAR-10 test images, which no entry trained on.
OVER_PIXELS = 0.20


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_cifar10_entry_features_are_learned(name):
    encoder = zoo.load(name)
    floor, num_train, num_test = LEARNED[name]

    def features(source, limit):
        out, pixels, labels = [], [], []
        for x, y in data.eval_dataset(source, "cifar10", 500):
            if sum(len(o) for o in out) >= limit:
                break
            out.append(encoder(x, training=False).numpy())
            pixels.append(x.numpy().reshape(len(x), -1))
            labels.append(y.numpy())
        return (np.concatenate(out)[:limit], np.concatenate(pixels)[:limit],
                np.concatenate(labels)[:limit])

    train_f, train_pixels, train_l = features(data.demo("train"), num_train)
    test_f, test_pixels, test_l = features(data.demo("test"), num_test)
    top1 = evaluation.knn_evaluate(train_f, train_l, test_f, test_l, ks=(20,))[0]["top1"]
    assert top1 > floor, (name, top1)
    # Far better than a kNN on the raw pixels of the same images (28.8% with 5,000 / 1,000): an
    # entry that is not has no place in the zoo.
    pixels_top1 = evaluation.knn_evaluate(train_pixels, train_l, test_pixels, test_l, ks=(20,))[0]["top1"]
    assert top1 > pixels_top1 + OVER_PIXELS, (name, top1, pixels_top1)


def test_every_entry_is_checked_against_raw_pixels():
    assert sorted(LEARNED) == NAMES


def test_the_gpu_entry_records_its_run():
    info = zoo.info("ssl_hsic_resnet18_cifar10_150ep")
    assert info["feature_dim"] == 512 and info["architecture"]["width_multiplier"] == 1.0
    training = info["training"]
    assert training["device"].startswith("gpu:") and training["epochs"] == 150
    assert "sslhsic-pretrain --config=cifar10_ssl_hsic_gpu" in training["command"]
    assert "zoo_run" in training["command_at_training"]  # the script of 2026-11, kept as history
    knn = [f["value"] for f in info["evaluation"]
           if f["metric"] == "top1" and f["protocol"].startswith("kNN") and "k=200" in f["protocol"]]
    assert len(knn) == 2 and abs(knn[0] - knn[1]) < 0.005  # the device's and the CPU's kNN agree


@pytest.mark.parametrize("name", CPU_RUNS)
def test_cpu_entries_record_their_run(name):
    """The CPU zoo runs keep what they cost and how to repeat them."""
    info = zoo.info(name)
    training = info["training"]
    assert training["dataset"] == "cifar10_archive" and training["epochs"] >= 6
    # At most 15 CPU-hours (zoo v2's budget; the 100-epoch run with a target: 14.2 in float32).
    assert 0 < training["cpu_hours"] <= 15 and training["wall_hours"] >= training["cpu_hours"] / 2
    assert training["machine"]["cores"] >= 1 and training["precision"]["policy"]
    assert training["command"].startswith("python -m sslhsic_tf.pretrain --config=configs/cifar10_")
    assert f"--config.epochs={training['epochs']}" in training["command"]
    points = training["knn_curve"]["points"]
    assert "k=200" in training["knn_curve"]["protocol"]
    # The monitor ran along the whole run (every epoch for the 6-epoch runs, every 3 or 5 for the
    # longer ones) and its last point is the end of training.
    epochs = [p["epoch"] for p in points]
    assert len(points) >= 6 and epochs == sorted(epochs) and epochs[0] <= training["epochs"] / 5
    assert abs(epochs[-1] / training["epochs"] - 1) < 0.02
    assert points[-1]["knn_top1"] > points[0]["knn_top1"]  # it learned along the way
    final_knn = [f["value"] for f in info["evaluation"]
                 if f["metric"] == "top1" and f["protocol"].startswith("kNN") and "k=200" in f["protocol"]]
    assert len(final_knn) == 1 and abs(final_knn[0] - points[-1]["knn_top1"]) < 0.03
    assert "/work/" not in json.dumps(training)
    # Trained in bf16 (100 epochs with a target: float32, on a CPU without bf16 instructions),
    # exported in float32 (export --dtype_policy, default): full speed on CPUs without them.
    assert training["precision"]["policy"] in ("mixed_bfloat16", "float32")
    assert serving.read_export_metadata(info["path"])["extra"]["compute_dtypes"] == ["float32"]


CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "configs")


def _command_config(command):
    """The config that a training record's `command` trains with, parsed by ml_collections as
    sslhsic-pretrain parses it (a preset name or a configs/ path, then the --config.KEY overrides)."""
    args = shlex.split(command.split("  #")[0])
    assert re.search(r"(^|\s)(sslhsic-pretrain|python -m sslhsic_tf\.pretrain) ", command), command
    preset = next(a for a in args if a.startswith("--config="))[len("--config="):]
    path = os.path.join(CONFIGS, os.path.basename(preset if preset.endswith(".py") else preset + ".py"))
    assert os.path.isfile(path), f"{command!r} names a preset that is gone: {path}"
    argv = ["sslhsic-pretrain", f"--config={path}"] + [a for a in args if a.startswith("--config.")]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", path, flag_values=flag_values, sys_argv=argv)
    flag_values(argv)
    return flag_values.config


@pytest.mark.parametrize("name", NAMES)
def test_entry_command_trains_the_recorded_recipe(name):
    """Each entry's command, run today, trains the entry's recipe: a preset that changes its
    defaults (the long-run recipes) must not change what an old entry's command means."""
    info = zoo.info(name)
    training, arch = info["training"], info["architecture"]
    config = _command_config(training["command"])
    assert config.method == info["method"]
    assert (config.model.depth, config.model.width_multiplier) == (arch["depth"], arch["width_multiplier"])
    assert config.model.cifar_stem == (arch["stem"] == "cifar")
    assert config.model.padding == arch.get("padding", config.model.padding)
    assert config.batch_size == training["batch_size"]
    if not config.budget.minutes:  # a budgeted run's length is what the budget allowed
        assert config.epochs == training["epochs"]
    optimizer = {**methods.get(info["method"]).optimizer_defaults,
                 **{k: v for k, v in config.optimizer.items() if v is not None}}
    recorded = training["optimizer"]
    assert {k: optimizer[k] for k in recorded} == pytest.approx(recorded), name
    for key, value in training.get("method_kwargs", {}).items():
        assert config.method_kwargs[key] == pytest.approx(value)
