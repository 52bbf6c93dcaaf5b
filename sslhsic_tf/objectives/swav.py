"""SwAV (Caron et al. 2020): swapped prediction of balanced cluster assignments.

`scores` `[V, B, K]` are the similarities of each view's L2-normalised projection to K
L2-normalised prototypes. The codes of a global view a are a balanced soft assignment of the
batch to the prototypes, from the Sinkhorn-Knopp algorithm (under stop-gradient):

  Q = sinkhorn_knopp(scores_a, epsilon, iterations)     rows sum to 1, each prototype B / K
  loss = mean_{a < A, v != a} mean_i [ -sum_k Q_a(i, k) log softmax(scores_v(i) / T)_k ]

with A = `num_assignment_views` (the two global crops in the paper). The equipartition is over
the batch: under data parallelism pass the global batch's scores (gathered), so that every
replica computes the same codes.
"""

from keras import ops

from sslhsic_tf.objectives import _checks


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return value


def sinkhorn_knopp(scores, epsilon=0.05, iterations=3):
    """Balanced soft assignments `[B, K]` of B samples to K prototypes, float32.

    Q = exp(scores / epsilon) / total, then `iterations` rounds of: scale every prototype's
    total to 1 / K, then every sample's total to 1 / B; returned scaled by B so that each row
    (sample) sums to 1 and each column (prototype) to B / K after enough iterations (exactly for
    the rows). Computed in the log domain (log-sum-exp normalisations), so large scores / small
    epsilon neither overflow nor empty a prototype. No gradient flows through it.

    Args:
      scores: `[B, K]` similarities (B >= 1, K >= 1).
      epsilon: > 0, the entropy regularisation (0.05 in the paper).
      iterations: int >= 1 (3 in the paper).
    """
    eps = _checks.positive_scalar(epsilon, "epsilon")
    iterations = _positive_int(iterations, "iterations")
    x = _checks.to_float32(scores, "scores")
    shape = _checks.static_shape(x)
    if shape is None or len(shape) != 2:
        raise ValueError(f"scores must have shape [B, K] (samples, prototypes); got "
                         f"{'unknown rank' if shape is None else tuple(shape)}")
    _checks.check_finite(x, "scores")
    log_q = ops.stop_gradient(x) / eps
    log_q = log_q - ops.logsumexp(log_q)
    log_b = ops.log(ops.cast(ops.shape(log_q)[0], "float32"))
    log_k = ops.log(ops.cast(ops.shape(log_q)[1], "float32"))
    for _ in range(iterations):
        log_q = log_q - ops.logsumexp(log_q, axis=0, keepdims=True) - log_k
        log_q = log_q - ops.logsumexp(log_q, axis=1, keepdims=True) - log_b
    return ops.exp(log_q + log_b)


def swav_loss(scores, num_assignment_views=2, temperature=0.1, epsilon=0.05,
              sinkhorn_iterations=3, queue_scores=None):
    """The SwAV loss and its parts, computed in float32.

    Args:
      scores: `[V, B, K]` prototype similarities of V >= 2 views (global views first).
      num_assignment_views: A, 1 <= A <= V: the views whose codes are predicted.
      temperature: > 0, of the softmax over prototypes (0.1).
      epsilon, sinkhorn_iterations: of `sinkhorn_knopp`.
      queue_scores: None, or `[A, Q, K]` scores of Q stored embeddings per assignment view (no
        gradient): they join the Sinkhorn normalisation of view a (the codes are balanced over
        B + Q samples), and only the batch's own B codes are predicted.
    Returns:
      dict of float32 scalars: `loss`, `code_entropy` (mean entropy of a sample's code),
      `prototype_usage_entropy` (entropy of the mean code; log K when every prototype is used
      equally).
    """
    tau = _checks.positive_scalar(temperature, "temperature")
    s = _checks.views_float32(
        scores, "scores", min_batch=1,
        spec="[V, B, K] with V >= 2 views, B >= 1 images and K >= 1 prototypes (views first)")
    v = _checks.static_shape(s)[0]
    if v is None:
        raise ValueError("scores must have a static number of views V; got None")
    a_views = _positive_int(num_assignment_views, "num_assignment_views")
    if a_views > v:
        raise ValueError(f"num_assignment_views must be <= the {v} views of scores; got {a_views}")

    if queue_scores is not None:
        queue = _checks.to_float32(queue_scores, "queue_scores")
        shape, want = _checks.static_shape(queue), _checks.static_shape(s)
        if shape is None or len(shape) != 3 or shape[0] != a_views or shape[2] != want[2]:
            raise ValueError(f"queue_scores must have shape [A, Q, K] = [{a_views}, Q, "
                             f"{want[2]}]; got {None if shape is None else tuple(shape)}")
    log_p = ops.log_softmax(s / tau, axis=-1)  # [V, B, K]
    batch = ops.shape(s)[1]
    total, code_entropy, usage = 0.0, 0.0, 0.0
    for a in range(a_views):
        if queue_scores is None:
            q = sinkhorn_knopp(s[a], epsilon, sinkhorn_iterations)  # [B, K], rows sum to 1
        else:
            joint = ops.concatenate([s[a], ops.stop_gradient(queue[a])], axis=0)
            q = sinkhorn_knopp(joint, epsilon, sinkhorn_iterations)[:batch]
        for other in range(v):
            if other != a:
                total = total - ops.mean(ops.sum(q * log_p[other], axis=-1))
        code_entropy = code_entropy - ops.mean(ops.sum(q * ops.log(ops.maximum(q, 1e-30)), -1))
        mean_code = ops.mean(q, axis=0)
        usage = usage - ops.sum(mean_code * ops.log(ops.maximum(mean_code, 1e-30)))
    return {"loss": total / float(a_views * (v - 1)), "code_entropy": code_entropy / a_views,
            "prototype_usage_entropy": usage / a_views}
