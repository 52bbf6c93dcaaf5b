"""DINO (Caron et al. 2021): self-distillation with a centred, sharpened EMA teacher.

The teacher (an EMA copy of the student) sees the Vt global crops, the student all Vs crops; the
student's first Vt views are the teacher's crops. With p(.|a) = softmax((t_a - center) / tau_t)
under stop-gradient and log q(.|b) = log_softmax(s_b / tau_s), "a != b" meaning different crops:

  loss = mean_{a < Vt, b < Vs, a != b} mean_i [ -sum_k p(k|a, i) log q(k|b, i) ]

Centring (subtracting a running mean of the teacher logits) keeps one dimension from dominating;
sharpening (tau_t < tau_s) keeps the output from going uniform. Their balance is watched by two
collapse indicators returned with the loss: the mean entropy of p (-> 0: one-hot collapse; ->
log C: uniform collapse) and the entropy of its batch mean.

`dino_center_update` is the running mean; under data parallelism pass the logits of the global
batch (gathered) so that every replica keeps the same centre.
"""

from keras import ops

from sslhsic_tf.objectives import _checks


def _logits(x, name, min_views, spec):
    out = _checks.views_float32(x, name, min_views=min_views, min_batch=1, spec=spec)
    if _checks.static_shape(out)[0] is None:
        raise ValueError(f"{name} must have a static number of views; got None")
    return out


def dino_loss(teacher_logits, student_logits, center, teacher_temperature=0.04,
              student_temperature=0.1):
    """The DINO loss and its collapse indicators, computed in float32.

    Args:
      teacher_logits: `[Vt, B, C]` teacher-head outputs of the global crops, Vt >= 1 (no gradient
        flows into them).
      student_logits: `[Vs, B, C]` student-head outputs, Vs >= max(2, Vt), same B and C; the first
        Vt views are the teacher's crops.
      center: `[C]` running mean of the teacher logits (`dino_center_update`).
      teacher_temperature: > 0 (warmed 0.04 -> 0.07 in the paper's recipe).
      student_temperature: > 0 (0.1).
    Returns:
      dict of float32 scalars: `loss`, `teacher_entropy` (mean H(p)), `teacher_marginal_entropy`
      (H of the batch mean of p).
    """
    tau_t = _checks.positive_scalar(teacher_temperature, "teacher_temperature")
    tau_s = _checks.positive_scalar(student_temperature, "student_temperature")
    t = _logits(teacher_logits, "teacher_logits", 1, "[Vt, B, C] with Vt >= 1 teacher views")
    vt, b, c = _checks.static_shape(t)
    spec = f"[Vs, B, C] with Vs >= max(2, Vt = {vt}) views and the teacher's B = {b} and C = {c}"
    shape = _checks.check_rank3(student_logits, "student_logits", spec, min_views=max(2, vt),
                                min_batch=1)
    if any(x is not None and y is not None and x != y for x, y in zip(shape[1:], (b, c))):
        raise ValueError(f"student_logits must have shape {spec}; got shape {shape}")
    s = _logits(student_logits, "student_logits", max(2, vt), spec)
    centre = _checks.to_float32(center, "center")
    centre_shape = _checks.static_shape(centre)
    if centre_shape is not None and (len(centre_shape) != 1 or centre_shape[0] not in (None, c)):
        raise ValueError(f"center must have shape [C] = [{c}] (one value per output); got "
                         f"shape {tuple(centre_shape)}")

    log_p = ops.stop_gradient(ops.log_softmax((t - centre) / tau_t, axis=-1))  # [Vt, B, C]
    p = ops.exp(log_p)
    log_q = ops.log_softmax(s / tau_s, axis=-1)  # [Vs, B, C]
    batch = ops.cast(ops.shape(t)[1], "float32")
    cross = -ops.einsum("aik,bik->ab", p, log_q) / batch  # [Vt, Vs]
    diagonal = ops.sum(ops.diagonal(cross[:, :vt]))
    loss = (ops.sum(cross) - diagonal) / float(vt * s.shape[0] - vt)

    entropy = -ops.mean(ops.sum(p * log_p, axis=-1))
    marginal = ops.mean(p, axis=1)  # [Vt, C]
    marginal_entropy = -ops.mean(ops.sum(marginal * ops.log(ops.maximum(marginal, 1e-30)),
                                         axis=-1))
    return {"loss": loss, "teacher_entropy": entropy,
            "teacher_marginal_entropy": marginal_entropy}


def dino_center_update(center, teacher_logits, momentum=0.9):
    """`momentum * center + (1 - momentum) * mean of teacher_logits` over views and batch: `[C]`.

    Pass the global batch's logits under data parallelism.
    """
    if isinstance(momentum, bool) or not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"momentum must be a number in [0, 1]; got {momentum!r}")
    t = _logits(teacher_logits, "teacher_logits", 1, "[Vt, B, C] with Vt >= 1 teacher views")
    centre = _checks.to_float32(center, "center")
    batch_mean = ops.mean(ops.reshape(t, (-1, ops.shape(t)[-1])), axis=0)
    return float(momentum) * centre + (1.0 - float(momentum)) * ops.stop_gradient(batch_mean)
