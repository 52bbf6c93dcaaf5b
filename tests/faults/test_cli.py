"""The scripts' error plumbing (`training/cli.py`) on messages the library really produces."""

import pytest
import tensorflow as tf

from sslhsic_tf.training import cli

pytestmark = pytest.mark.faults


def test_tensorflow_op_error_becomes_one_line_without_graph_context():
    @tf.function
    def check(x):
        tf.debugging.assert_less(x, 3, message="online probe: labels must be < num_classes=3")
        return x

    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        check(tf.constant([1, 5]))
    text = cli.describe(info.value)
    assert "\n" not in text and "[[" not in text
    assert text.startswith("assertion failed: [online probe: labels must be < num_classes=3]")
    assert text.endswith("(InvalidArgumentError)")


def test_os_errors_keep_the_path_and_name_their_kind(tmp_path):
    with pytest.raises(OSError) as info:
        open(tmp_path / "missing.csv")
    assert cli.describe(info.value).startswith("[Errno 2] No such file or directory")
    assert str(tmp_path / "missing.csv") in cli.describe(info.value)
    assert cli.describe(PermissionError(13, "Permission denied", "/x")).endswith("(PermissionError)")
    assert cli.describe(ValueError("a\n  b\n")) == "a b"


def test_config_error_names_the_unknown_key_and_the_valid_ones(tmp_path):
    config = tmp_path / "cfg.py"
    config.write_text(
        "import ml_collections\n\ndef get_config():\n"
        "    return ml_collections.ConfigDict({'a': 1, 'data': {'train': 'x', 'size': 2}})\n")
    argv = ["prog", f"--config={config}", "--config.a=2", "--config.data.colour=3"]
    message = cli.config_error("config", argv, "unused.py", KeyError("colour"))
    assert message == ("--config.data.colour=3: unknown config key 'colour' (keys of config.data: "
                       "size, train)")
    argv = ["prog", f"--config={config}", "--config.a.b=2"]
    assert "config.a is a int, not a section" in cli.config_error("config", argv, "", KeyError("b"))
    assert cli.config_error("config", ["prog", "--config=/none.py"], "", OSError()) == (
        "--config=/none.py: no such config file")
