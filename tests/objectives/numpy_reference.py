"""Independent float64 NumPy references for the objectives, written as explicit loops over points.

These follow the formulas of objectives.md term by term (no vectorised tricks shared with the
library), so agreement with the keras.ops implementation is evidence that both are right.
"""

import math

import numpy as np


def unit(x):
    return x / np.linalg.norm(x)


def kernel(x, y, name, c=1.0):
    d = float(np.sum((x - y) ** 2))
    if name == "imq":
        return c / math.sqrt(d + c * c)
    if name == "gaussian":
        return math.exp(-d / (2 * c * c))
    if name == "linear":
        return float(np.dot(x, y))
    raise ValueError(name)


def _points(views):
    """[M, B, D] -> list of (view p, image i, unit vector)."""
    m, b, _ = views.shape
    return [(p, i, unit(np.asarray(views[p, i], np.float64))) for p in range(m) for i in range(b)]


def hsic_zy(views, name, c=1.0):
    m, b, _ = views.shape
    pts = _points(views)
    n = len(pts)
    positive = 0.0
    for p, i, x in pts:
        for l, j, y in pts:
            if i == j and p != l:
                positive += kernel(x, y, name, c)
    everything = sum(kernel(x, y, name, c) for _, _, x in pts for _, _, y in pts)
    return positive / (b * m * (m - 1)) - everything / n**2 + 1.0 / (m - 1)


def hsic_zz(views, name, c=1.0):
    pts = _points(views)
    n = len(pts)
    k = np.array([[kernel(x, y, name, c) for _, _, y in pts] for _, _, x in pts])
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ k @ h)) / n**2


def ssl_hsic(views, name, c=1.0, gamma=3.0):
    zy, zz = hsic_zy(views, name, c), hsic_zz(views, name, c)
    return gamma * math.sqrt(zz) - zy, zy, zz


def bandwidth_objective_all_pairs(points, c, name="imq"):
    """mean over ordered distinct pairs of log|dk/dd| on normalised points `[N, D]`."""
    pts = [unit(np.asarray(x, np.float64)) for x in points]
    total, count = 0.0, 0
    for a, x in enumerate(pts):
        for b, y in enumerate(pts):
            if a == b:
                continue
            d = float(np.sum((x - y) ** 2))
            if name == "imq":
                total += math.log(c / 2) - 1.5 * math.log(d + c * c)
            else:
                total += -d / (2 * c * c) - math.log(2 * c * c)
            count += 1
    return total / count


def infonce(views, tau):
    _, b, _ = views.shape
    pts = [unit(np.asarray(views[p, i], np.float64)) for p in range(2) for i in range(b)]
    loss = 0.0
    for k in range(2 * b):
        pos = (k + b) % (2 * b)
        denom = sum(math.exp(pts[k] @ pts[j] / tau) for j in range(2 * b) if j != k)
        loss += -(pts[k] @ pts[pos] / tau - math.log(denom))
    return loss / (2 * b)


def cissl(student, teacher, tau):
    v, b, _ = student.shape
    s = [unit(np.asarray(student[p, i], np.float64)) for p in range(v) for i in range(b)]
    t = [unit(np.asarray(teacher[p, i], np.float64)) for p in range(v) for i in range(b)]
    n = v * b
    loss = 0.0
    for k in range(n):
        logits = np.array([s[k] @ t[j] / tau for j in range(n)])
        log_q = logits - math.log(np.sum(np.exp(logits)))
        image = k % b
        loss += -sum(log_q[l * b + image] for l in range(v)) / v
    return loss / n


def byol(pred, targ):
    _, b, _ = pred.shape
    total = 0.0
    for p, t in ((0, 1), (1, 0)):
        total += sum(2 - 2 * unit(pred[p, i].astype(np.float64)) @ unit(targ[t, i].astype(np.float64)) for i in range(b)) / b
    return total


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def dissl(teacher, student, lam, beta, tau_t, tau_s):
    vt, b, _ = teacher.shape
    vs = student.shape[0]
    p = [[_softmax(teacher[a, i].astype(np.float64) / tau_t) for i in range(b)] for a in range(vt)]
    q = [[_softmax(student[a, i].astype(np.float64) / tau_s) for i in range(b)] for a in range(vs)]
    pairs = [(a, c) for a in range(vt) for c in range(vs) if a != c]
    distill = np.mean([np.mean([-(p[a][i] @ np.log(q[c][i])) for i in range(b)]) for a, c in pairs])
    entropies = []
    for a in range(vt):
        marginal = sum(p[a]) / b
        entropies.append(-(marginal @ np.log(marginal)))
    teacher_pairs = [(a, c) for a in range(vt) for c in range(vt) if a != c]
    tce = np.mean([np.mean([-(p[a][i] @ np.log(p[c][i])) for i in range(b)]) for a, c in teacher_pairs]) if teacher_pairs else 0.0
    ent = float(np.mean(entropies))
    return distill - lam * ent + beta * tce, distill, ent, tce
