"""`mixed_precision="auto"`, the default of the CPU presets and the demo: the fastest measured
configuration of the CPU kind (`utils/backend.CPU_PRECISION`, measured by
`benchmarks/train_step.py --cpu-configs`), float32 elsewhere; an explicit jit_compile wins."""

import importlib
import pathlib

import pytest
import tensorflow as tf

from sslhsic_tf.training import config_checks, schema
from sslhsic_tf.utils import backend

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
ON_ACCELERATOR = bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


@pytest.mark.skipif(ON_ACCELERATOR, reason="auto is float32 on accelerators")
def test_auto_precision_by_cpu_kind():
    assert backend.auto_precision({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}) == (
        "mixed_bfloat16", True)  # AMX: bf16 + XLA (1.28x); bf16 alone was 0.22x
    assert backend.auto_precision({"avx512f", "avx512_bf16"}) == (
        "mixed_bfloat16", False)  # AVX512-BF16 without AMX: bf16 1.40x, XLA 0.55x
    assert backend.auto_precision({"avx2", "fma"}) == ("float32", "auto")
    assert backend.auto_precision(set()) == ("float32", "auto")


@pytest.mark.skipif(not pathlib.Path("/proc/cpuinfo").exists(), reason="Linux only")
def test_cpu_flags_are_read_from_the_machine():
    flags = backend.cpu_flags()
    assert flags and all(" " not in f and ":" not in f for f in flags)
    assert backend.auto_precision() == backend.auto_precision(flags)


@pytest.mark.skipif(ON_ACCELERATOR, reason="auto is float32 on accelerators")
@pytest.mark.parametrize("flags, mixed, jit, expected", [
    ({"avx512_bf16"}, "auto", "auto", ("mixed_bfloat16", False)),
    ({"avx512_bf16"}, "auto", "True", ("mixed_bfloat16", True)),  # an explicit jit wins
    ({"amx_bf16", "avx512_bf16"}, "auto", "auto", ("mixed_bfloat16", True)),
    ({"amx_bf16", "avx512_bf16"}, "auto", "false", ("mixed_bfloat16", False)),
    ({"avx2"}, "auto", "auto", ("float32", "auto")),
    ({"amx_bf16"}, "", "auto", (None, "auto")),  # "": the global policy stays as it is
    ({"amx_bf16"}, "float32", "auto", ("float32", "auto")),
    ({"avx2"}, "mixed_bfloat16", "TRUE", ("mixed_bfloat16", True)),
])
def test_precision_options_of_a_config(monkeypatch, flags, mixed, jit, expected):
    monkeypatch.setattr(backend, "cpu_flags", lambda: set(flags))
    config = schema.base()
    config.mixed_precision, config.jit_compile = mixed, jit
    config_checks.check_config(config)
    assert config_checks.precision_options(config) == expected


def test_cpu_presets_and_demo_default_to_auto_and_accelerator_presets_do_not():
    names = sorted(p.stem for p in CONFIGS.glob("*.py") if p.stem not in ("__init__", "common"))
    cpu = [n for n in names if n.startswith(("cifar10_", "demo")) and not n.endswith("_gpu")]
    gpu = [n for n in names if n.endswith("_gpu")]  # one accelerator under JAX: bf16 itself
    assert len(cpu) >= 10 and gpu, (cpu, gpu)
    for name in names:
        expected = "auto" if name in cpu else "mixed_bfloat16" if name in gpu else ""
        config = importlib.import_module(f"sslhsic_tf.configs.{name}").get_config()
        assert config.mixed_precision == expected, name


def test_misspelt_precision_names_the_choices():
    config = schema.base()
    config.mixed_precision = "bf16"
    with pytest.raises(ValueError, match=r"--config.mixed_precision='bf16': expected one of "
                                         r"\(.*'mixed_bfloat16', 'auto'\)"):
        config_checks.check_config(config)
