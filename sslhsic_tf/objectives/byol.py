"""BYOL's regression loss between online predictions and stop-gradient target projections."""

from keras import ops

from sslhsic_tf.objectives import _checks
from sslhsic_tf.objectives._numerics import l2_normalize


def byol_loss(online_predictions, target_projections):
    """Symmetrised BYOL loss, computed in float32.

    L = mean_i (2 - 2 cos(p0_i, t1_i)) + mean_i (2 - 2 cos(p1_i, t0_i)), with p the online
    predictions of views 0 and 1 and t the target projections (stop-gradient here). Each term is
    the squared distance between unit vectors, so L lies in [0, 8].

    Args:
      online_predictions: `[2, B, D]`, B >= 2.
      target_projections: `[2, B, D]` (same shape); no gradient flows into it.
    Returns:
      float32 scalar.
    """
    p = _checks.views_float32(online_predictions, "online_predictions", num_views=2)
    _checks.check_same_shape(online_predictions, "online_predictions", target_projections, "target_projections")
    t = _checks.views_float32(target_projections, "target_projections", num_views=2)
    p = l2_normalize(p)
    t = ops.stop_gradient(l2_normalize(t))
    cos_01 = ops.sum(p[0] * t[1], axis=-1)
    cos_10 = ops.sum(p[1] * t[0], axis=-1)
    return ops.mean(2.0 - 2.0 * cos_01) + ops.mean(2.0 - 2.0 * cos_10)
