"""DISSL (distillation ISSL, Dubois et al. 2022) over multi-crop head outputs.

The teacher sees the Vt global crops, the student all Vs crops; the student's first Vt views are
the crops the teacher saw. With p(.|z_a) = softmax(t_a / tau_t), q(.|z_b) = softmax(s_b / tau_s),
"a != b" meaning different crops:

  distillation        = mean_{a < Vt, b < Vs, a != b} mean_i [ -sum_m p(m|z_a,i) log q(m|z_b,i) ]
  marginal_entropy    = mean_{a < Vt} H( mean_i p(.|z_a,i) )       (the batch marginal)
  teacher_cross_entropy = mean_{a, b < Vt, a != b} mean_i [ -sum_m p(m|z_a,i) log p(m|z_b,i) ]
                        (0 when Vt = 1: there is no pair of distinct teacher crops)
  loss = distillation - lam * marginal_entropy + beta * teacher_cross_entropy

No stop-gradient, no centring, no EMA: teacher and student share one encoder. The batch marginal
must be the global batch's: gather the logits before calling under data parallelism.
"""

from keras import ops

from sslhsic_tf.objectives import _checks


def _off_diagonal_mean(pairwise, num_rows):
    """Mean of `pairwise` `[Vt, V]` over entries (a, b) with a != b (a < Vt <= V)."""
    rows, cols = _checks.static_shape(pairwise)
    diagonal = ops.sum(ops.diagonal(pairwise[:, :num_rows]))
    return (ops.sum(pairwise) - diagonal) / float(rows * cols - num_rows)


def dissl_loss(
    teacher_logits,
    student_logits,
    lam=2.3,
    beta=0.8,
    teacher_temperature=0.5,
    student_temperature=1.0,
):
    """The DISSL loss and its parts, computed in float32.

    Args:
      teacher_logits: `[Vt, B, C]` raw teacher-head outputs, Vt >= 1, B >= 2.
      student_logits: `[Vs, B, C]` raw student-head outputs, Vs >= max(Vt, 2), same B and C; the
        first Vt student views are the teacher's crops.
      lam: weight of the marginal entropy (>= 0; 2.3 in the paper).
      beta: weight of the teacher cross-entropy (>= 0; 0.8 TinyImageNet, 0.6 ImageNet).
      teacher_temperature, student_temperature: > 0 (0.5 and 1.0 in the paper).
    Returns:
      dict of float32 scalars: `loss`, `distillation`, `marginal_entropy`,
      `teacher_cross_entropy` (see the module docstring).
    """
    lam = _checks.nonnegative_number(lam, "lam")
    beta = _checks.nonnegative_number(beta, "beta")
    tau_t = _checks.positive_scalar(teacher_temperature, "teacher_temperature")
    tau_s = _checks.positive_scalar(student_temperature, "student_temperature")
    t = _checks.views_float32(
        teacher_logits, "teacher_logits", min_views=1,
        spec="[Vt, B, C] with Vt >= 1 teacher views, B >= 2 images and C >= 1 classes (views first)",
    )
    vt, b, c = _checks.static_shape(t)
    if vt is None:
        raise ValueError("teacher_logits must have a static number of views Vt; got None")
    student_spec = (
        f"[Vs, B, C] with Vs >= max(2, Vt = {vt}) views and the teacher's B = {b} and C = {c}"
    )
    s_shape = _checks.check_rank3(student_logits, "student_logits", student_spec, min_views=max(2, vt))
    if any(x is not None and y is not None and x != y for x, y in zip(s_shape[1:], (b, c))):
        raise ValueError(f"student_logits must have shape {student_spec}; got shape {s_shape}")
    s = _checks.views_float32(student_logits, "student_logits", min_views=max(2, vt), spec=student_spec)
    if s_shape[0] is None:
        raise ValueError("student_logits must have a static number of views Vs; got None")

    log_p = ops.log_softmax(t / tau_t, axis=-1)  # [Vt, B, C]
    p = ops.exp(log_p)
    log_q = ops.log_softmax(s / tau_s, axis=-1)  # [Vs, B, C]
    batch = ops.cast(ops.shape(t)[1], "float32")

    distill = -ops.einsum("aim,bim->ab", p, log_q) / batch  # [Vt, Vs]
    distillation = _off_diagonal_mean(distill, vt)

    # log of the batch-marginal teacher distribution, via logsumexp (no log(0)).
    log_marginal = ops.logsumexp(log_p, axis=1) - ops.log(batch)  # [Vt, C]
    marginal_entropy = -ops.mean(ops.sum(ops.exp(log_marginal) * log_marginal, axis=-1))

    if vt > 1:
        teacher_ce = _off_diagonal_mean(-ops.einsum("aim,bim->ab", p, log_p) / batch, vt)
    else:
        teacher_ce = ops.zeros((), "float32")

    loss = distillation - lam * marginal_entropy + beta * teacher_ce
    return {
        "loss": loss,
        "distillation": distillation,
        "marginal_entropy": marginal_entropy,
        "teacher_cross_entropy": teacher_ce,
    }
