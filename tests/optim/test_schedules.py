"""WarmupCosine and the linear scaling rule against closed forms."""

import math

import keras
import numpy as np
import pytest

from sslhsic_tf.optim import WarmupCosine, scaled_learning_rate


def closed_form(step, peak, warmup, total, end):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return end
    frac = (step - warmup) / (total - warmup)
    return end + (peak - end) * (math.cos(math.pi * frac) + 1) / 2


@pytest.mark.parametrize(
    "peak,warmup,total,end",
    [(6.4, 10, 100, 0.0), (2e-3, 0, 50, 1e-5), (1.0, 7, 7, 0.1), (0.3, 1, 2, 0.0)],
)
def test_matches_closed_form(peak, warmup, total, end):
    sched = WarmupCosine(peak, warmup, total, end=end)
    steps = sorted({0, 1, max(warmup - 1, 0), warmup, warmup + 1, (warmup + total) // 2,
                    total - 1, total, total + 5})
    got = keras.ops.convert_to_numpy(sched(np.array(steps, "int64")))
    want = [closed_form(s, peak, warmup, total, end) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_key_points_of_the_ssl_hsic_recipe():
    # peak 0.4 * 4096 / 256 = 6.4, 10 warmup epochs of 312 steps, 1000 epochs
    peak = scaled_learning_rate(0.4, 4096)
    assert peak == pytest.approx(6.4)
    sched = WarmupCosine(peak, 3120, 312_784)
    lr = lambda s: float(keras.ops.convert_to_numpy(sched(s)))  # noqa: E731
    assert lr(0) == 0.0
    assert lr(1560) == pytest.approx(3.2, rel=1e-6)
    assert lr(3120) == pytest.approx(6.4, rel=1e-6)
    assert lr((3120 + 312_784) // 2) == pytest.approx(3.2, rel=1e-4)
    assert lr(312_784) == pytest.approx(0.0, abs=1e-6)


def test_drives_an_optimizer_and_round_trips():
    sched = WarmupCosine(1.0, 2, 6, end=0.1, name="lr")
    config = keras.optimizers.schedules.serialize(sched)
    clone = keras.optimizers.schedules.deserialize(config)
    assert isinstance(clone, WarmupCosine) and clone.get_config() == sched.get_config()
    opt = keras.optimizers.SGD(clone)
    opt2 = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(opt2._learning_rate, WarmupCosine)
    var = keras.Variable(np.zeros(1, "float32"))
    seen = []
    for _ in range(4):
        seen.append(float(keras.ops.convert_to_numpy(opt.learning_rate)))
        opt.apply([np.ones(1, "float32")], [var])
    np.testing.assert_allclose(seen, [closed_form(s, 1.0, 2, 6, 0.1) for s in range(4)], rtol=1e-6)
    np.testing.assert_allclose(var.numpy(), [-sum(seen)], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r"`warmup_steps` \(11\) must be <= `total_steps` \(10\)"):
        WarmupCosine(1.0, 11, 10)
    with pytest.raises(ValueError, match="`total_steps` must be >= 1"):
        WarmupCosine(1.0, 0, 0)
    with pytest.raises(ValueError, match="`warmup_steps` must be >= 0"):
        WarmupCosine(1.0, -1, 10)
    with pytest.raises(ValueError, match="`peak`"):
        WarmupCosine(-0.1, 1, 10)
    with pytest.raises(ValueError, match="`end`"):
        WarmupCosine(1.0, 1, 10, end=float("nan"))
    with pytest.raises(TypeError, match="`total_steps` must be an int"):
        WarmupCosine(1.0, 1, 10.5)
    with pytest.raises(TypeError, match="`peak` must be a number"):
        WarmupCosine("1.0", 1, 10)
    with pytest.raises(ValueError, match="`batch_size` must be >= 1"):
        scaled_learning_rate(0.3, 0)
    with pytest.raises(TypeError, match="`batch_size` must be an int"):
        scaled_learning_rate(0.3, 256.0)
    assert scaled_learning_rate(0.3, np.int64(512)) == pytest.approx(0.6)
    assert scaled_learning_rate(2e-3, 512, reference_batch_size=512) == pytest.approx(2e-3)
