"""Contrastive objectives over views-first head outputs: InfoNCE (SimCLR) and CISSL.

All logits, masks and softmaxes are computed in float32 (inputs are cast first), so masking uses
a float32 constant and never overflows under a float16/bfloat16 policy. Shapes are checked
statically; NaN/inf inputs raise for concrete (NumPy / eager) inputs only, not inside traced
functions.
"""

from keras import ops

from sslhsic_tf.objectives import _checks
from sslhsic_tf.objectives._numerics import l2_normalize

_MASKED_LOGIT = -1e9  # exp(-1e9 - max) == 0 in float32


def infonce_loss(views, temperature=0.1):
    """SimCLR's InfoNCE (NT-Xent) over two views.

    The 2B points are L2-normalised; logits are cosines / temperature; each point's positive is
    its other view and the point itself is left out of the softmax (over the other 2B - 1 points).

    Args:
      views: `[2, B, D]`, B >= 2, any float dtype.
      temperature: tau > 0 (float or scalar tensor).
    Returns:
      float32 scalar: the mean cross-entropy over the 2B points.
    """
    temperature = _checks.positive_scalar(temperature, "temperature")
    z = l2_normalize(_checks.views_float32(views, "views", num_views=2))
    flat = ops.reshape(z, (-1, ops.shape(z)[-1]))  # [2B, D]
    logits = ops.matmul(flat, ops.transpose(flat)) / temperature
    self_mask = ops.eye(ops.shape(flat)[0], dtype="bool")
    logits = ops.where(self_mask, _MASKED_LOGIT, logits)
    positive = ops.sum(z[0] * z[1], axis=-1) / temperature  # [B], the same for both views
    return ops.mean(ops.logsumexp(logits, axis=-1)) - ops.mean(positive)


def cissl_loss(student, teacher, temperature=0.07):
    """Contrastive ISSL (Dubois et al. 2022) over V >= 2 views.

    s_k = normalise(student_k), t_j = normalise(teacher_j) over all N = V B points; logits
    l_kj = s_k^T t_j / tau over all N columns, the diagonal included; q = softmax over columns.
    The target of row k puts mass 1/V on each of the V views of k's image (for V = 2: 1/2 on
    itself and 1/2 on its other view).

    Args:
      student: `[V, B, D]` student-head outputs.
      teacher: `[V, B, D]` teacher-head outputs (same shape).
      temperature: tau > 0.
    Returns:
      float32 scalar: mean over the N rows of -(1/V) sum_{views l of the same image} log q(l | k).
    """
    temperature = _checks.positive_scalar(temperature, "temperature")
    s = _checks.views_float32(student, "student")
    _checks.check_same_shape(student, "student", teacher, "teacher")
    t = _checks.views_float32(teacher, "teacher")
    num_views, batch = ops.shape(s)[0], ops.shape(s)[1]
    s = ops.reshape(l2_normalize(s), (-1, ops.shape(s)[-1]))
    t = ops.reshape(l2_normalize(t), (-1, ops.shape(t)[-1]))
    log_q = ops.log_softmax(ops.matmul(s, ops.transpose(t)) / temperature, axis=-1)  # [N, N]
    log_q = ops.reshape(log_q, (num_views, batch, num_views, batch))
    same_image = ops.reshape(ops.eye(batch), (1, batch, 1, batch))
    per_row_views = ops.cast(num_views, "float32")
    rows = per_row_views * ops.cast(batch, "float32")
    return -ops.sum(log_q * same_image) / (per_row_views * rows)
