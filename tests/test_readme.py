"""The README's Python examples run as written (each in a fresh process, in an empty folder)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _run_example(heading, check, env, tmp_path):
    """Runs the first ```python block after `heading`, then `check`; fails with its stderr."""
    text = README.read_text()
    section = text[text.index(heading):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", snippet + check], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    check = (
        "\nimport pathlib\nimport numpy as _np\n"
        "assert features.shape == (8, 128), features.shape\n"
        "assert _np.isfinite(features).all()\n"
        "assert (pathlib.Path('my_encoder') / 'saved_model.pb').exists()\n"
        "assert int(model.optimizer.iterations.numpy()) == 10\n"
    )
    _run_example("## Use it from Python", check, {**os.environ, "KERAS_BACKEND": "tensorflow"},
                 tmp_path)


@pytest.mark.slow
def test_readme_fine_tuning_example_runs_on_jax(tmp_path):
    """The "Fine-tune a zoo encoder" example, as written, under JAX (TensorFlow never imported):
    the validation accuracy beats chance by far."""
    check = (
        "\nimport sys\n"
        "history = model.history.history\n"
        "assert history['val_accuracy'][-1] > 0.3, history\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    env.pop("KERAS_BACKEND", None)
    _run_example("## Fine-tune a zoo encoder", check, env, tmp_path)
