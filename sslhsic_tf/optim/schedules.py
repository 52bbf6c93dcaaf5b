"""Learning-rate schedules: linear warmup + cosine decay, and the linear scaling rule."""

import math

import keras
from keras import ops


def _check_number(value, name, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number, got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"`{name}` must be a finite number >= {minimum}, got {value!r}")
    return value


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy integers are accepted through int(); floats are not (a step count is an int)
        if hasattr(value, "__index__"):
            value = int(value)
        else:
            raise TypeError(
                f"`{name}` must be an int, got {value!r} of type {type(value).__name__}"
            )
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def scaled_learning_rate(base_lr, batch_size, reference_batch_size=256):
    """The linear scaling rule: `base_lr * batch_size / reference_batch_size`.

    E.g. SSL-HSIC's 0.4 per 256 images at batch 4096 gives 6.4.
    """
    _check_number(base_lr, "base_lr")
    batch_size = _check_int(batch_size, "batch_size", 1)
    reference_batch_size = _check_int(reference_batch_size, "reference_batch_size", 1)
    return float(base_lr) * batch_size / reference_batch_size


@keras.saving.register_keras_serializable(package="sslhsic_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup 0 → `peak` over `warmup_steps`, then cosine decay to `end` at `total_steps`.

        step < W:       lr = peak · step / W
        W <= step <= T: lr = end + (peak − end) · ½ (1 + cos(π (step − W) / (T − W)))
        step > T:       lr = end

    with W = warmup_steps, T = total_steps (if W = T there is no cosine phase and lr = end from
    step T on). Computed in float32; `step` is the optimizer's iteration count (0 for the first
    update).

    Args:
      peak: the learning rate reached at the end of warmup (>= 0); e.g.
        `scaled_learning_rate(0.4, 4096)`.
      warmup_steps: W, an int with 0 <= W <= total_steps.
      total_steps: T, an int >= 1.
      end: the final learning rate (>= 0, default 0).
    """

    def __init__(self, peak, warmup_steps, total_steps, end=0.0, name="warmup_cosine"):
        self.peak = float(_check_number(peak, "peak"))
        self.end = float(_check_number(end, "end"))
        self.total_steps = _check_int(total_steps, "total_steps", 1)
        self.warmup_steps = _check_int(warmup_steps, "warmup_steps", 0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                f"`warmup_steps` ({self.warmup_steps}) must be <= `total_steps` "
                f"({self.total_steps})"
            )
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, got {name!r}")
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, end = self.peak, self.end
        warmup = float(self.warmup_steps)
        decay = float(self.total_steps - self.warmup_steps)
        warm = peak * step / max(warmup, 1.0)
        progress = ops.clip((step - warmup) / max(decay, 1.0), 0.0, 1.0)
        cosine = end + (peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if decay == 0:
            cosine = ops.full_like(step, end)
        return ops.where(step < warmup, warm, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "end": self.end,
            "name": self.name,
        }
