"""Diagnostics of one encoder on one image source: a JSON-serialisable report and a dashboard.

`analyze(encoder, source)` encodes `num_images` images of `source` twice over: as `num_views`
augmented views (the pretraining augmentation, `[M, N, D]`) and as clean images (the evaluation
transform, `[N, D]`), L2-normalises every feature vector, and computes:

- HSIC(Z, Y_identity), HSIC(Z, Z) and the SSL-HSIC loss over the views (`metrics.hsic_identity`):
  exact kernels when M N <= `exact_limit`, else random features with their spread over draws;
  the kernel bandwidth is the median pairwise distance of the features unless given;
- InfoNCE at `temperature` on the first two views, beside SSL-HSIC;
- alignment (views) and uniformity, RankMe (clean features);
- label CKA (clean features against the class labels) when the source has labels;
- kNN top-1 (`evaluation.knn_evaluate`: cosine, k = 200, T = 0.07) of every image of `source`
  against `knn_train`, when given.

`plot_dashboard(report, path)` draws the report as one PNG.
"""

import math

import numpy as np

from sslhsic_tf.analysis import metrics

KNN_PROTOCOL = "kNN top-1, cosine, k = {k}, votes exp(s / 0.07), frozen encoder, all images"


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _encoder_input_size(encoder):
    """The static input side of a Keras model (None where any size is accepted)."""
    shape = getattr(encoder, "input_shape", None)
    if isinstance(shape, tuple) and len(shape) == 4 and shape[1] is not None:
        return int(shape[1])
    return None


def check_image_size(encoder, image_size, name="encoder", data_name="data"):
    """Raises a one-line ValueError if `encoder` cannot take `image_size` x `image_size` images."""
    from sslhsic_tf.evaluation.features import encode_batch

    expected = _encoder_input_size(encoder)
    hint = (f"pass data at the {name}'s training size (an eval transform / view preset of that "
            "size) or an encoder trained at this size")
    if expected is not None and expected != image_size:
        raise ValueError(f"{name} takes {expected}x{expected} images, {data_name} gives "
                         f"{image_size}x{image_size}: {hint}")
    try:
        encode_batch(encoder, np.zeros((2, image_size, image_size, 3), np.float32))
    except Exception as e:  # noqa: BLE001 - any failure of the encoder on this size
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{name} does not accept {image_size}x{image_size} images from "
                         f"{data_name} ({first[:200]}): {hint}") from None


def view_features(encoder, source, views, num_images, num_views, seed=0, batch_size=256):
    """Features `[M, N, D]` of `num_views` augmented views of `num_images` images of `source`
    (drawn by `seed`; the pretraining augmentation of the `views` preset, cycled to M views)."""
    from sslhsic_tf import data
    from sslhsic_tf.evaluation.features import encode_batch

    configs = list(data.resolve_views(views))
    configs = [configs[v % len(configs)] for v in range(num_views)]
    batch = min(batch_size, num_images)
    ds = data.pretrain_dataset(source, configs, global_batch_size=batch, seed=seed)
    per_view, count = [[] for _ in range(num_views)], 0
    for element in ds:
        for v, images in enumerate(element["views"]):
            per_view[v].append(encode_batch(encoder, images.numpy()))
        count += batch
        if count >= num_images:
            break
    return np.stack([np.concatenate(f)[:num_images] for f in per_view])


def clean_features(encoder, source, eval_config, num_images=None, batch_size=256):
    """Features `[N, D]` and labels `[N]` of the first `num_images` images (all if None) of
    `source` under the evaluation transform."""
    from sslhsic_tf import data
    from sslhsic_tf.evaluation.features import extract_features

    ds = data.eval_dataset(source, eval_config, batch_size)
    if num_images is not None:
        ds = ds.unbatch().take(num_images).batch(batch_size)
    return extract_features(encoder, ds, name="source")


def median_distance(features, max_points=2000, seed=0):
    """Median pairwise Euclidean distance of the rows of `features` `[N, D]` (a random subset of
    at most `max_points` rows)."""
    x = np.asarray(features, np.float64)
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    sq = np.maximum((x * x).sum(1)[:, None] + (x * x).sum(1)[None] - 2 * x @ x.T, 0.0)
    distances = np.sqrt(sq[np.triu_indices(len(x), 1)])
    return float(np.median(distances))


def analyze(encoder, source, *, views="cifar10", eval_config="cifar10", num_images=1000,
            num_views=4, seed=0, kernel="imq", bandwidth=None, gamma=3.0, exact_limit=4096,
            num_features=512, draws=5, temperature=0.1, knn_train=None, knn_k=200,
            batch_size=256, name="encoder"):
    """Every diagnostic of `encoder` on `source` (see the module docstring).

    Args:
      encoder: a `keras.Model` (or callable) mapping float32 `[B, S, S, 3]` in [0, 1] to `[B, D]`.
      source: an `ImageSource` (the images analysed; labels used by label CKA and kNN).
      views, eval_config: the augmentation preset of the views and the evaluation transform.
      num_images, num_views: N images, M views of each (M >= 2).
      kernel, bandwidth, gamma: the SSL-HSIC kernel; bandwidth None: the median distance.
      exact_limit, num_features, draws: exact HSIC when M N <= exact_limit, else `num_features`
        random features averaged over `draws` draws (their spread reported).
      knn_train: an `ImageSource` of labelled training images for kNN, or None.
    Returns:
      A JSON-serialisable dict: `settings`, `metrics`, and `plot` (arrays for the dashboard).
    """
    from sslhsic_tf import data, evaluation

    if not isinstance(num_views, int) or num_views < 2:
        raise ValueError(f"num_views must be an int >= 2 (M views per image), got {num_views!r}")
    if not isinstance(num_images, int) or num_images < 4:
        raise ValueError(f"num_images must be an int >= 4, got {num_images!r}")
    if num_images > source.num_examples:
        raise ValueError(f"num_images={num_images} but the source has {source.num_examples} "
                         f"images: pass num_images <= {source.num_examples}")
    eval_size = data.resolve_eval(eval_config).size
    view_sizes = {c.crop.size for c in data.resolve_views(views)}
    for size in sorted(view_sizes | {eval_size}):
        check_image_size(encoder, size, name, "the views" if size in view_sizes else "eval_config")

    views_z = _unit(view_features(encoder, source, views, num_images, num_views, seed, batch_size))
    clean, labels = clean_features(encoder, source, eval_config, num_images, batch_size)
    clean = _unit(clean)
    c = float(bandwidth) if bandwidth is not None else median_distance(
        views_z.reshape(-1, views_z.shape[-1]), seed=seed)
    exact = num_views * num_images <= exact_limit
    hsic = metrics.hsic_identity(views_z, kernel=kernel, bandwidth=c, gamma=gamma,
                                 num_features=None if exact else num_features, draws=draws,
                                 seed=seed)
    values = dict(hsic)
    values.update({
        "infonce": metrics.infonce(views_z, temperature=temperature),
        "infonce_chance": math.log(2 * num_images - 1),
        "alignment": metrics.alignment(views_z),
        "uniformity": metrics.uniformity(clean),
        "rankme": metrics.rankme(clean),
        "feature_dim": int(clean.shape[1]),
    })
    if source.num_classes and len(np.unique(labels)) > 1:
        values["label_cka"] = metrics.label_cka(clean, labels)
    if knn_train is not None:
        train_f, train_l = evaluation.extract_features(
            encoder, data.eval_dataset(knn_train, eval_config, batch_size), name="knn_train")
        test_f, test_l = evaluation.extract_features(
            encoder, data.eval_dataset(source, eval_config, batch_size), name="source")
        knn = evaluation.knn_evaluate(train_f, train_l, test_f, test_l, ks=(knn_k,))[0]
        values["knn_top1"] = float(knn["top1"])
        values["knn_protocol"] = KNN_PROTOCOL.format(k=knn_k)

    rng = np.random.default_rng(seed)
    positive = (views_z[0] * views_z[1]).sum(-1)
    a, b = rng.integers(0, num_images, (2, 4 * num_images))
    keep = a != b
    negative = (clean[a[keep]] * clean[b[keep]]).sum(-1)
    singular = np.linalg.svd(clean - clean.mean(0), compute_uv=False)
    shown = np.argsort(labels[:500], kind="stable")  # the first 500 images, sorted by label
    centred = _unit(clean[shown] - clean.mean(0))
    return {
        "name": name,
        "settings": {"num_images": num_images, "num_views": num_views, "views": str(views),
                     "eval_config": str(eval_config), "seed": seed, "kernel": kernel,
                     "bandwidth": c, "bandwidth_rule": "given" if bandwidth is not None
                     else "median pairwise distance of the view features",
                     "gamma": gamma, "temperature": temperature,
                     "features": "encoder outputs, L2-normalised"},
        "metrics": values,
        "plot": {"positive_cosine": positive.tolist(), "negative_cosine": negative.tolist(),
                 "singular_values": singular.tolist(),
                 "gram_labels": labels[shown].tolist(),
                 "gram": (centred @ centred.T).round(4).tolist()},
    }


ROWS = (("knn_top1", "kNN top-1 (k=200)", "{:.1%}"), ("hsic_zy", "HSIC(Z, Y)", "{:.4f}"),
        ("hsic_zy_excess", "HSIC(Z, Y) - 1/(M-1)", "{:.4f}"), ("hsic_zz", "HSIC(Z, Z)", "{:.2e}"),
        ("ssl_hsic_loss", "SSL-HSIC loss", "{:.4f}"), ("infonce", "InfoNCE", "{:.3f}"),
        ("label_cka", "label CKA", "{:.3f}"), ("alignment", "alignment", "{:.3f}"),
        ("uniformity", "uniformity", "{:.3f}"), ("rankme", "RankMe", "{:.1f}"))


def summary_lines(report):
    """`label: value` lines of the report's metrics (those present)."""
    m = report["metrics"]
    return [f"{label}: {fmt.format(m[key])}" + (f" ± {m[key + '_std']:.1e}" if key + "_std" in m
                                                else "")
            for key, label, fmt in ROWS if key in m]


def plot_dashboard(report, path, others=()):
    """One PNG: HSIC terms, cosine similarities, spectrum, label-sorted Gram matrix, the
    alignment-uniformity plane (with `others`, reports of other encoders) and the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m, p, s = report["metrics"], report["plot"], report["settings"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    ax = axes[0, 0]
    terms = [("HSIC(Z,Y)", m["hsic_zy"], m.get("hsic_zy_std", 0.0)),
             ("γ√HSIC(Z,Z)", s["gamma"] * math.sqrt(max(m["hsic_zz"], 0.0)), 0.0)]
    ax.bar([t[0] for t in terms], [t[1] for t in terms], yerr=[t[2] for t in terms],
           color=["tab:blue", "tab:orange"])
    ax.axhline(1.0 / (s["num_views"] - 1), color="k", ls="--", lw=1,
               label="HSIC(Z,Y) of a collapsed encoder: 1/(M-1)")
    ax.set_title(f"SSL-HSIC terms ({m['estimator']}, {s['kernel']}, c={s['bandwidth']:.3f})")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    both = np.concatenate([p["positive_cosine"], p["negative_cosine"]])
    bins = np.linspace(both.min(), both.max() + 1e-6, 61)
    ax.hist(p["positive_cosine"], bins, alpha=0.6, density=True, label="two views of an image")
    ax.hist(p["negative_cosine"], bins, alpha=0.6, density=True, label="two different images")
    ax.set_title(f"cosine similarity (alignment {m['alignment']:.3f})")
    ax.legend(fontsize=8)
    ax = axes[0, 2]
    sv = np.asarray(p["singular_values"])
    ax.semilogy(np.arange(1, len(sv) + 1), sv / max(sv.sum(), 1e-12))
    ax.set_title(f"spectrum of the features (RankMe {m['rankme']:.1f} of {m['feature_dim']})")
    ax.set_ylabel("singular value / sum")
    ax.set_xlabel("index")
    ax = axes[1, 0]
    ax.imshow(np.asarray(p["gram"]), cmap="RdBu_r", vmin=-1, vmax=1)
    cka = f", label CKA {m['label_cka']:.3f}" if "label_cka" in m else ""
    ax.set_title(f"centred cosine Gram, sorted by label{cka}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax = axes[1, 1]
    for other in (report, *others):
        om = other["metrics"]
        ax.scatter(om["uniformity"], om["alignment"], s=40)
        ax.annotate(other["name"], (om["uniformity"], om["alignment"]), fontsize=8)
    ax.set_xlabel("uniformity (lower: more uniform)")
    ax.set_ylabel("alignment (lower: more invariant)")
    ax.set_title("alignment-uniformity plane")
    ax = axes[1, 2]
    ax.axis("off")
    lines = [report["name"], ""] + summary_lines(report) + [
        "", f"N = {s['num_images']} images, M = {s['num_views']} views ({s['views']})",
        f"InfoNCE at T = {s['temperature']} (chance {m['infonce_chance']:.2f})"]
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
