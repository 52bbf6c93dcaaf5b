"""An independent NumPy LARS (float64, explicit loops), shared with the JAX subprocess tests."""

import numpy as np


def numpy_lars(weights, grads_per_step, lrs, excluded, momentum, eta, wd):
    """Reference LARS in float64: dicts of arrays keyed by position, one dict of grads per step."""
    w = {k: np.array(v, np.float64) for k, v in weights.items()}
    vel = {k: np.zeros_like(v) for k, v in w.items()}
    for lr, grads in zip(lrs, grads_per_step):
        for k in w:
            d = np.array(grads[k], np.float64)
            if k not in excluded:
                d = d + wd * w[k]
                wn, dn = np.linalg.norm(w[k].ravel()), np.linalg.norm(d.ravel())
                trust = eta * wn / dn if (wn > 0 and dn > 0) else 1.0
                d = trust * d
            vel[k] = momentum * vel[k] + lr * d
            w[k] = w[k] - vel[k]
    return w
