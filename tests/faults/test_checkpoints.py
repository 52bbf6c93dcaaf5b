"""Atomic checkpoints: what a killed or damaged write leaves behind is never taken as the latest.

In-process tests of `training.checkpoint.CheckpointManager` on a small compiled model (its
optimizer state included), plus the run-folder helpers of the loop (config fingerprint,
train_log.csv repair). The kill of a real process in the middle of a write is in
test_preemption.py.
"""

import json
import logging
import os

import keras
import numpy as np
import pytest

from sslhsic_tf.training import checkpoint as ckpt
from sslhsic_tf.training import loop

pytestmark = pytest.mark.faults


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    model.fit(x, x[:, :2], epochs=1, batch_size=8, verbose=0)  # optimizer state is non-trivial
    return model


def _values(model):
    return [np.array(v.numpy()) for v in model.weights + model.optimizer.variables]


def _perturb(model):
    for v in model.weights:
        v.assign(v.numpy() + 1.0)
    model.optimizer.iterations.assign(99)


def test_round_trip_restores_weights_and_optimizer(tmp_path):
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    expected = _values(model)
    manager.save(model, 2, data_offset=3)
    _perturb(model)
    state = manager.restore(model)
    assert state["step"] == 2 and state["data_offset"] == 3
    assert state["files"][ckpt.WEIGHTS]["bytes"] == os.path.getsize(
        os.path.join(manager.path(2), ckpt.WEIGHTS))
    for a, b in zip(expected, _values(model)):
        np.testing.assert_array_equal(a, b)
    assert int(model.optimizer.iterations.numpy()) == 1


def test_leftover_temporary_folder_is_ignored_and_removed(tmp_path, faults, caplog):
    faults.inject("leftover ckpt-*.tmp-* folder")
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    manager.save(model, 2)
    # A write of step 4 killed before its rename: complete-looking files, temporary name.
    manager.save(model, 4)
    os.rename(manager.path(4), manager.path(4) + ".tmp-12345")
    assert manager.steps() == [2] and manager.latest_step() == 2
    with caplog.at_level(logging.WARNING, logger="sslhsic_tf"):
        fresh = ckpt.CheckpointManager(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000000002"]
    assert fresh.removed_partial == ["ckpt-000000004.tmp-12345"]
    assert "unfinished checkpoint write" in caplog.text
    assert fresh.restore(_model())["step"] == 2
    faults.survive("leftover ckpt-*.tmp-* folder")


@pytest.mark.parametrize("damage", ["no state.json", "truncated state.json", "no weights file",
                                    "state.json of another step"])
def test_incomplete_folder_is_never_latest(tmp_path, faults, damage):
    faults.inject(f"checkpoint folder with {damage}")
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    manager.save(model, 2)
    manager.save(model, 4)
    folder = manager.path(4)
    state_path = os.path.join(folder, ckpt.STATE)
    if damage == "no state.json":
        os.remove(state_path)
    elif damage == "truncated state.json":
        text = open(state_path).read()
        open(state_path, "w").write(text[: len(text) // 2])
    elif damage == "no weights file":
        os.remove(os.path.join(folder, ckpt.WEIGHTS))
    else:
        state = json.load(open(state_path))
        state["step"] = 6
        json.dump(state, open(state_path, "w"))
    assert manager.steps() == [2]
    assert manager.read_state()["step"] == 2
    assert manager.restore(model)["step"] == 2
    with pytest.raises(FileNotFoundError, match="no complete checkpoint at step 4"):
        manager.restore(model, step=4)
    faults.survive(f"checkpoint folder with {damage}")


def test_corrupt_weights_fall_back_to_the_previous_checkpoint(tmp_path, faults, caplog):
    faults.inject("corrupt model.weights.h5 (bytes flipped)")
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    manager.save(model, 2)
    at_two = _values(model)
    _perturb(model)
    manager.save(model, 4)
    weights = os.path.join(manager.path(4), ckpt.WEIGHTS)
    raw = bytearray(open(weights, "rb").read())
    for i in range(len(raw) // 2, len(raw) // 2 + 16):  # same size, different content
        raw[i] ^= 0xFF
    open(weights, "wb").write(bytes(raw))
    assert "SHA-256" in manager.verify(4) and manager.verify(2) is None
    with caplog.at_level(logging.WARNING, logger="sslhsic_tf"):
        state = manager.restore(model)
    assert state["step"] == 2
    assert "skipping checkpoint" in caplog.text and "ckpt-000000004" in caplog.text
    for a, b in zip(at_two, _values(model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ckpt-000000004 is unusable"):
        manager.restore(model, step=4)
    faults.survive("corrupt model.weights.h5 (bytes flipped)")


def test_truncated_weights_and_nothing_usable_is_an_error(tmp_path, faults):
    faults.inject("truncated model.weights.h5, no usable checkpoint")
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    manager.save(model, 2)
    weights = os.path.join(manager.path(2), ckpt.WEIGHTS)
    os.truncate(weights, os.path.getsize(weights) // 2)
    assert "bytes" in manager.verify(2)
    with pytest.raises(ValueError, match="no usable checkpoint .*ckpt-000000002: model.weights.h5 has"):
        manager.restore(model)
    faults.survive("truncated model.weights.h5, no usable checkpoint")


def test_non_finite_weights_are_never_saved(tmp_path, faults):
    faults.inject("non-finite weights at save time")
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path)
    manager.save(model, 2)
    model.weights[0].assign(np.full(model.weights[0].shape, np.nan, "float32"))
    with pytest.raises(FloatingPointError, match="step 4: variable .* is not finite .*last good checkpoint is step 2"):
        manager.save(model, 4)
    assert manager.steps() == [2] and sorted(os.listdir(tmp_path)) == ["ckpt-000000002"]
    faults.survive("non-finite weights at save time")


def test_rewriting_a_step_replaces_it_and_pruning_keeps_the_newest(tmp_path):
    model = _model()
    manager = ckpt.CheckpointManager(tmp_path, max_to_keep=2)
    for step in (2, 4, 4, 6):
        manager.save(model, step, tag=step)
    assert manager.steps() == [4, 6]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000000004", "ckpt-000000006"]
    with pytest.raises(ValueError, match="keep_checkpoints"):
        ckpt.CheckpointManager(tmp_path, max_to_keep=0)


def test_fault_delay_hook_parsing(monkeypatch):
    monkeypatch.setenv(ckpt.FAULT_DELAY_ENV, "4:1.5")
    assert ckpt._fault_delay(4) == 1.5 and ckpt._fault_delay(2) == 0.0
    monkeypatch.setenv(ckpt.FAULT_DELAY_ENV, "0.25")
    assert ckpt._fault_delay(7) == 0.25
    monkeypatch.setenv(ckpt.FAULT_DELAY_ENV, "soon")
    with pytest.raises(ValueError, match="SSLHSIC_FAULT_CHECKPOINT_DELAY must be"):
        ckpt._fault_delay(1)


def test_train_log_is_cut_back_to_the_restored_interval(tmp_path, faults):
    faults.inject("train_log.csv with rows past the checkpoint and a partial line")
    path = tmp_path / "train_log.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n3,0.")  # killed while writing epoch 3
    loop.truncate_train_log(str(path), first_epoch=2)
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"
    loop.truncate_train_log(str(path), first_epoch=0)
    assert not path.exists()  # only the header was left: CSVLogger starts a new file
    faults.survive("train_log.csv with rows past the checkpoint and a partial line")


def _config(**changes):
    from sslhsic_tf.configs import demo

    c = demo.get_config()
    for key, value in changes.items():
        node = c
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


def test_workdir_refuses_another_config_only_once_checkpoints_exist(tmp_path, faults):
    faults.inject("restart with a changed config")
    manager = ckpt.CheckpointManager(tmp_path / "checkpoints")
    loop._check_workdir(str(tmp_path), _config(), manager)
    # No checkpoint yet: a corrected config replaces the recorded one.
    loop._check_workdir(str(tmp_path), _config(batch_size=64), manager)
    recorded = json.load(open(tmp_path / "config.json"))
    assert recorded["config"]["batch_size"] == 64
    manager.save(_model(), 2)
    with pytest.raises(ValueError, match=r"holds a run with another config \(differs in \['batch_size'\]: "
                       r"batch_size: 64 there, 32 here\); use a new --workdir, or pass the run's"):
        loop._check_workdir(str(tmp_path), _config(batch_size=32), manager)
    loop._check_workdir(str(tmp_path), _config(batch_size=64), manager)  # same config: resumes
    faults.survive("restart with a changed config")


def test_run_of_an_older_version_resumes_when_new_keys_keep_their_defaults(tmp_path):
    manager = ckpt.CheckpointManager(tmp_path / "checkpoints")
    loop._check_workdir(str(tmp_path), _config(), manager)
    manager.save(_model(), 2)
    recorded = json.load(open(tmp_path / "config.json"))
    # The data is recorded as resolved sources (as written before data.dataset existed).
    assert "dataset" not in recorded["fingerprint"]["data"]
    assert recorded["fingerprint"]["data"]["train"] == "demo:train"
    del recorded["fingerprint"]["method_kwargs"]["projector_output_bn"]
    (tmp_path / "config.json").write_text(json.dumps(recorded))
    loop._check_workdir(str(tmp_path), _config(), manager)  # resumes
    # Recorded when the demo's sources were data.train / data.test and data.dataset was "":
    # the same resolved sources, so the run resumes under today's defaults.
    recorded["fingerprint"]["data"].update(dataset="", train="demo:train", test="demo:test")
    (tmp_path / "config.json").write_text(json.dumps(recorded))
    loop._check_workdir(str(tmp_path), _config(), manager)
    with pytest.raises(ValueError, match=r"data.train: 'demo:train' there, 'demo:test' here"):
        loop._check_workdir(str(tmp_path), _config(**{"data.dataset": "", "data.train":
                                                       "demo:test"}), manager)


def test_run_resumes_after_a_preset_default_changes_when_given_its_values(tmp_path):
    """A run recorded with a preset's unset optimizer keys (the method's defaults) resumes after
    the preset sets other values, once the command line gives the run's values explicitly."""
    manager = ckpt.CheckpointManager(tmp_path / "checkpoints")
    loop._check_workdir(str(tmp_path), _config(), manager)  # name, momentum, warmup: unset
    manager.save(_model(), 2)
    new_default = {"optimizer.name": "sgd", "optimizer.base_learning_rate": 0.12,
                   "optimizer.weight_decay": 5e-4, "optimizer.momentum": 0.9,
                   "optimizer.warmup_fraction": 0.0}
    with pytest.raises(ValueError, match=r"optimizer.name: 'lars' there, 'sgd' here"):
        loop._check_workdir(str(tmp_path), _config(**new_default), manager)
    the_runs = {**new_default, "optimizer.name": "lars", "optimizer.base_learning_rate": 1.0,
                "optimizer.weight_decay": 1e-5, "optimizer.momentum": 0.9,
                "optimizer.warmup_fraction": 0.01}
    loop._check_workdir(str(tmp_path), _config(**the_runs), manager)  # resumes
    with pytest.raises(ValueError, match=r"optimizer.warmup_fraction: 0.01 there, 0.02 here"):
        loop._check_workdir(str(tmp_path), _config(**{**the_runs, "optimizer.warmup_fraction":
                                                       0.02}), manager)
    # An SGD run recorded with a trust coefficient (which SGD never reads) resumes without it.
    sgd_run = tmp_path / "sgd"
    manager = ckpt.CheckpointManager(sgd_run / "checkpoints")
    loop._check_workdir(str(sgd_run), _config(**new_default), manager)  # trust 0.02 recorded
    manager.save(_model(), 2)
    loop._check_workdir(str(sgd_run), _config(**{**new_default, "optimizer.trust_coefficient":
                                                  None}), manager)
    with pytest.raises(ValueError, match=r"optimizer.momentum: 0.9 there, 0.8 here"):
        loop._check_workdir(str(sgd_run), _config(**{**new_default, "optimizer.momentum": 0.8}),
                            manager)
    # A run recorded before `exclude_norm_and_bias` existed (SGD: every weight decayed) resumes
    # when the setting is given as what the run did, and refuses the other value.
    recorded = json.loads((sgd_run / "config.json").read_text())
    del recorded["fingerprint"]["optimizer"]["exclude_norm_and_bias"]
    (sgd_run / "config.json").write_text(json.dumps(recorded))
    loop._check_workdir(str(sgd_run), _config(**{**new_default, "optimizer.exclude_norm_and_bias":
                                                  False}), manager)
    with pytest.raises(ValueError, match=r"optimizer.exclude_norm_and_bias: False there, True"):
        loop._check_workdir(str(sgd_run), _config(**{**new_default, "optimizer.exclude_norm_and_bias":
                                                      True}), manager)


def test_workdir_of_another_method_names_both_methods(tmp_path):
    from sslhsic_tf.configs import cifar10_byol

    manager = ckpt.CheckpointManager(tmp_path / "checkpoints")
    loop._check_workdir(str(tmp_path), cifar10_byol.get_config(), manager)
    manager.save(_model(), 2)
    with pytest.raises(ValueError, match=r"differs in \[.*'method'.*\]: method: 'byol' there, "
                                         r"'ssl_hsic' here;"):
        loop._check_workdir(str(tmp_path), _config(), manager)


@pytest.mark.parametrize("change, message", [
    ({"foo": 1}, r"unknown config key\(s\) config.foo"),
    ({"data.color": 1}, r"unknown config key\(s\) config.data.color"),
    ({"method": "simclr2"}, r"--config.method='simclr2': unknown method; available: .*simclr"),
    ({"batch_size": 0}, r"--config.batch_size=0: expected a positive int"),
    ({"data.views": "cifar100"}, r"--config.data.views: views: unknown preset 'cifar100'"),
    ({"eval.protocols": ("knn", "svm")}, r"--config.eval.protocols=.*unknown protocol\(s\) \['svm'\]"),
    ({"optimizer.name": "adam"}, r"--config.optimizer.name='adam': expected one of"),
    ({"export.name": "my model"}, r"--config.export.name='my model'"),
    ({"jit_compile": "yes"}, r"--config.jit_compile='yes': expected True, False or auto"),
])
def test_config_mistakes_are_named_before_anything_runs(change, message):
    from sslhsic_tf.training.config_checks import check_config

    c = _config()
    with c.unlocked():
        for key, value in change.items():
            node = c
            *parents, leaf = key.split(".")
            for p in parents:
                node = node[p]
            node[leaf] = value
    with pytest.raises(ValueError, match=message):
        check_config(c)
    check_config(_config())  # the demo itself passes



@pytest.mark.parametrize("given, expected", [
    ("True", True), ("false", False), ("auto", "auto"), ("AUTO", "auto"), (True, True)])
def test_jit_compile_from_the_command_line_reaches_compile(given, expected):
    """`--config.jit_compile=True` arrives as the string 'True' (the field's default is "auto")."""
    from sslhsic_tf.training.config_checks import check_config, jit_compile_option

    c = _config()
    if isinstance(given, str):
        c.jit_compile = given
        check_config(c)
    result = jit_compile_option(given)
    assert result == expected and type(result) is type(expected)
    if given in ("True", "false"):  # and the training model is compiled with it
        c.model.width_multiplier = 0.125
        _, model = loop.build_model(c, num_classes=10, total_steps=4)
        assert model.jit_compile is expected


@pytest.mark.parametrize("damage, message", [
    ("truncated", r"cannot read the data \(EOFError: Compressed file ended"),
    ("not a tar", r"cannot read the data \(ReadError"),
])
def test_damaged_archives_are_value_errors_naming_the_flag(bad_data, tmp_path, faults, damage,
                                                           message):
    """The same conversion the scripts rely on (see test_bad_input.py for the npz end to end)."""
    faults.inject(f"{damage} .tar.gz archive")
    path = bad_data["truncated_tar_gz"]
    if damage == "not a tar":
        import gzip

        path = tmp_path / "not_a_tar.tar.gz"
        path.write_bytes(gzip.compress(b"plain text, not a tar archive" * 40))
    with pytest.raises(ValueError, match=rf"^--config.data.train=cifar10_archive:{path}:train: {message}"):
        loop.load_source(f"cifar10_archive:{path}:train", "--config.data.train")
    faults.survive(f"{damage} .tar.gz archive")
