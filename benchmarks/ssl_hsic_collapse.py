"""Why SSL-HSIC without a target network collapses, measured.

Trains SSL-HSIC on the embedded CIFAR-10 demo subset (5,000 images, ResNet-18 x0.25, the demo's
heads, LARS and learned bandwidth) once per candidate below and logs, every `--every` steps:
HSIC(Z, Y), HSIC(Z, Z), the bandwidth c, the norm of the gradient reaching the projector's weights
from each of the two loss terms (HSIC_ZY and gamma sqrt(HSIC_ZZ), on one fixed batch of views),
the participation ratio of the normalised projections' covariance (its effective number of
dimensions), their mean squared distance over c^2, and `repr_std`. Ends with kNN (k = 200,
cosine) on the demo's 1,000 test images. Prints a Markdown table, writes the logs as JSON and
the curves as a PNG.

Why the participation ratio: where the distances are small against c, k ~ 1 - d / (2 c^2) and
    L ~ (1 / (N c^2)) (gamma ||C||_F - tr C) + ...,  C the centred Gram matrix of the N points,
so shrinking every distance lowers the loss exactly when gamma > tr C / ||C||_F = sqrt(PR).

    python -m benchmarks.ssl_hsic_collapse --out /tmp/collapse          # every candidate
    python -m benchmarks.ssl_hsic_collapse --candidates no_target output_bn --steps 100
"""

import argparse
import json
import os
import time

# The no-target variant as shipped before the fix (no BatchNorm on the projector output; the fix
# is now the registered default, so the candidates that test a cause state it).
BEFORE_FIX = {"projector_output_bn": False}
CANDIDATES = {
    # name: (method, method_kwargs overrides, optimizer overrides, what it tests)
    "target": ("ssl_hsic", {}, {}, "with the EMA target (the reference)"),
    "no_target": ("ssl_hsic_no_target", BEFORE_FIX, {},
                  "without a target, as shipped before the fix"),
    "output_bn": ("ssl_hsic_no_target", {"projector_output_bn": True}, {},
                  "BatchNorm on the projector output (candidate 4; the fix)"),
    "fixed_bandwidth": ("ssl_hsic_no_target", {**BEFORE_FIX, "learn_bandwidth": False}, {},
                        "c fixed at 1 (candidate 3)"),
    "gamma_1": ("ssl_hsic_no_target", {**BEFORE_FIX, "gamma": 1.0}, {},
                "gamma 1 < sqrt(PR) (candidates 1-2)"),
    "lr_0.1": ("ssl_hsic_no_target", BEFORE_FIX, {"base_learning_rate": 0.1, "warmup_fraction": 0.2},
               "LARS lr 0.1 instead of 1.0, warmup 20% (candidate 5)"),
    "target_output_bn": ("ssl_hsic", {"projector_output_bn": True}, {},
                         "the fix with the target: does it cost anything"),
}


def participation_ratio(z):
    """(sum of eigenvalues)^2 / sum of squared eigenvalues of the covariance of rows of z."""
    import numpy as np

    centred = z - z.mean(axis=0)
    eig = np.linalg.eigvalsh(centred.T @ centred / len(z))
    return float(eig.sum() ** 2 / max((eig ** 2).sum(), 1e-30))


def probe(model, views, seed):
    """Diagnostics on one fixed batch of views `[V, B, H, W, C]` (weights left untouched)."""
    import numpy as np
    import tensorflow as tf

    from sslhsic_tf import objectives
    from sslhsic_tf.objectives._numerics import guarded_sqrt, l2_normalize

    frozen = [v.value for v in model.non_trainable_variables]
    saved = [tf.identity(v) for v in frozen]
    prepared = tf.nest.map_structure(tf.stop_gradient, model.constants(views, seed))
    weights = model.projector.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        features = [model.encoder(v, training=True) for v in views]
        z = model._views(model.head_outputs(views, features, prepared, True))
        kw = dict(kernel=model.kernel, bandwidth=model.bandwidth(), num_features=model.num_features,
                  seed=seed)
        zy = objectives.hsic_zy(z, **kw)
        reg = model.gamma * guarded_sqrt(objectives.hsic_zz(z, **kw))
    norm = lambda g: float(tf.linalg.global_norm([x for x in g if x is not None]))
    grad_zy, grad_reg = norm(tape.gradient(zy, weights)), norm(tape.gradient(reg, weights))
    for v, s in zip(frozen, saved):
        v.assign(s)  # BatchNorm moving statistics: the probe must not move them
    unit = np.asarray(l2_normalize(z[0]))
    c = float(model.bandwidth())
    sq = ((unit[:, None, :] - unit[None, :, :]) ** 2).sum(-1)
    return {"grad_zy": grad_zy, "grad_reg": grad_reg, "pr": participation_ratio(unit),
            "dist_over_c2": float(sq.mean() / c ** 2)}


def run(name, steps, every, seed):
    import keras
    import tensorflow as tf

    from sslhsic_tf import data
    from sslhsic_tf.configs import common
    from sslhsic_tf.training import loop

    method, overrides, optimizer_overrides, _ = CANDIDATES[name]
    config = common.base()
    config.method = method
    config.method_kwargs = common.method_kwargs(
        method, projector_hidden=1024, projection_dim=128, predictor_hidden=1024,
        bandwidth_learning_rate=1e-2, **overrides)
    config.model.width_multiplier = 0.25
    config.optimizer.update({"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                             "weight_decay": 1e-5, **optimizer_overrides})
    config.seed = seed
    keras.utils.set_random_seed(seed)
    train, test = data.demo("train"), data.demo("test")
    _, model = loop.build_model(config, train.num_classes, steps)
    dataset = data.pretrain_dataset(train, config.data.views, config.batch_size, seed)
    batches = iter(dataset)
    fixed = next(iter(data.pretrain_dataset(train, config.data.views, config.batch_size, seed + 1)))
    fixed_views = list(fixed["views"])
    fixed_seed = tf.constant([seed, 12345], tf.int32)

    log, t0 = [], time.time()
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            row = {"step": step, **probe(model, fixed_views, fixed_seed)}
            if step:
                row.update(last)
            log.append(row)
        if step == steps:
            break
        model.reset_metrics()
        last = {k: float(v) for k, v in model.train_on_batch(next(batches), return_dict=True).items()}
    train_seconds = time.time() - t0
    top1 = knn_top1(model.encoder, train, test)
    return {"name": name, "log": log, "knn_top1": float(top1), "train_seconds": train_seconds}


def knn_top1(encoder, train, test):
    """kNN top-1 (k = 200, cosine, T = 0.07) of the frozen encoder on the demo test images."""
    from sslhsic_tf import data
    from sslhsic_tf.evaluation import features, knn

    feats = [features.extract_features(encoder, data.eval_dataset(s, "cifar10")) for s in (train, test)]
    (record,) = knn.knn_evaluate(*feats[0], *feats[1], ks=(200,), num_classes=train.num_classes)
    return record["top1"]


def random_knn(seed):
    import keras

    from sslhsic_tf import data, models

    keras.utils.set_random_seed(seed)
    encoder = models.resnet(depth=18, width_multiplier=0.25, cifar_stem=True)
    return knn_top1(encoder, data.demo("train"), data.demo("test"))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("hsic_zy", "HSIC(Z,Y)"), ("hsic_zz", "HSIC(Z,Z)"), ("bandwidth", "bandwidth c"),
            ("grad_reg", "|grad| from gamma sqrt(HSIC_ZZ)"), ("grad_zy", "|grad| from HSIC_ZY"),
            ("pr", "participation ratio"), ("dist_over_c2", "mean d / c^2"),
            ("repr_std", "repr_std")]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    for ax, (key, title) in zip(axes.flat, keys):
        for r in results:
            pts = [(row["step"], row[key]) for row in r["log"] if key in row]
            if pts:
                ax.plot(*zip(*pts), label=f"{r['name']} (kNN {100 * r['knn_top1']:.1f})")
        ax.set_title(title)
        ax.set_xlabel("step")
        if key not in ("hsic_zy", "repr_std"):
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=CANDIDATES)
    parser.add_argument("--steps", type=int, default=195, help="10 demo epochs at batch 256")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/ssl_hsic_collapse")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    results = []
    for name in args.candidates:
        path = os.path.join(args.out, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                result = json.load(f)
        else:
            result = run(name, args.steps, args.every, args.seed)
            with open(path, "w") as f:
                json.dump(result, f)
        results.append(result)
        print(f"{name}: kNN {100 * result['knn_top1']:.1f}", flush=True)
    baseline = random_knn(args.seed)
    plot(results, os.path.join(args.out, "collapse.png"))

    print(f"\nDemo subset (5,000 train / 1,000 test), ResNet-18 x0.25, batch 256, {args.steps} "
          f"steps, seed {args.seed}; kNN k = 200 cosine. Random encoder: {100 * baseline:.1f}.\n")
    print("| candidate | what | kNN top-1 | HSIC_ZY end | PR step 0 -> end | c end | "
          "|grad reg| / |grad zy| step 0 -> end |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        first, end = r["log"][0], r["log"][-1]
        ratio = lambda row: row["grad_reg"] / max(row["grad_zy"], 1e-30)
        print(f"| {r['name']} | {CANDIDATES[r['name']][-1]} | {100 * r['knn_top1']:.1f} | "
              f"{end.get('hsic_zy', float('nan')):.3f} | {first['pr']:.1f} -> {end['pr']:.1f} | "
              f"{end.get('bandwidth', float('nan')):.3g} | {ratio(first):.2f} -> {ratio(end):.2f} |")


if __name__ == "__main__":
    main()
