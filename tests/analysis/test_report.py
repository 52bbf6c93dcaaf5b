"""`analysis.report.analyze` and the `sslhsic-analyze` script on the embedded demo images.

The encoder of the first tests is a fixed function (the per-channel means and standard
deviations of the image), so every figure of the report can be recomputed in NumPy from the
images alone: the clean-image figures from the demo images, the view figures from the views
the pipeline produced.
"""

import json
import math

import keras
import numpy as np
import pytest

from sslhsic_tf import data, models, serving
from sslhsic_tf.analysis import report
from tests.faults import scripts

N, M = 96, 3


def _channel_stats(images):
    images = np.asarray(images, np.float64)
    return np.concatenate([images.mean((1, 2)), images.std((1, 2))], axis=-1)


def _stats_encoder(size=None):
    inputs = keras.Input((size, size, 3))
    mean = keras.ops.mean(inputs, axis=(1, 2))
    std = keras.ops.sqrt(keras.ops.maximum(
        keras.ops.mean(keras.ops.square(inputs), axis=(1, 2)) - keras.ops.square(mean), 0.0))
    return keras.Model(inputs, keras.ops.concatenate([mean, std], axis=-1))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def analysed():
    source = data.demo("test")
    return source, report.analyze(_stats_encoder(), source, num_images=N, num_views=M, seed=3,
                                  knn_train=data.demo("train"), name="stats")


def test_clean_image_figures_against_numpy(analysed):
    source, rep = analysed
    z = _unit(_channel_stats(source.images[:N] / 255.0))  # cifar10 eval: the image itself
    labels = source.labels[:N]
    m = rep["metrics"]
    # RankMe: exp(entropy) of the normalised singular values.
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum()
    assert m["rankme"] == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-3)
    # Uniformity: log mean exp(-2 ||zi - zj||^2) over distinct pairs.
    sq = ((z[:, None] - z[None]) ** 2).sum(-1)
    off = ~np.eye(N, dtype=bool)
    assert m["uniformity"] == pytest.approx(math.log(np.exp(-2 * sq[off]).mean()), rel=1e-3,
                                            abs=1e-4)
    # Label CKA with linear kernels on the features and on one-hot labels.
    h = np.eye(N) - 1.0 / N
    k, lab = h @ (z @ z.T) @ h, h @ np.eye(10)[labels] @ np.eye(10)[labels].T @ h
    cka = (k * lab).sum() / math.sqrt((k * k).sum() * (lab * lab).sum())
    assert m["label_cka"] == pytest.approx(cka, rel=1e-3)
    assert rep["settings"]["features"] == "encoder outputs, L2-normalised"
    assert np.asarray(rep["plot"]["gram"]).shape == (N, N)


def test_view_figures_against_numpy(analysed):
    source, rep = analysed
    views = data.resolve_views("cifar10")
    configs = [views[v % 2] for v in range(M)]
    batch = next(iter(data.pretrain_dataset(source, configs, global_batch_size=N, seed=3)))
    z = np.stack([_unit(_channel_stats(v.numpy())) for v in batch["views"]])  # [M, N, D]
    m, c = rep["metrics"], rep["settings"]["bandwidth"]
    flat = z.reshape(M * N, -1)
    distances = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    assert c == pytest.approx(np.median(distances[np.triu_indices(M * N, 1)]), rel=1e-4)
    assert m["estimator"] == "exact"
    # HSIC(Z, Y) and HSIC(Z, Z) by their definitions (objectives.md): IMQ kernel on all M N
    # points; HSIC_ZY = mean k over two views of one image - mean k + 1/(M - 1),
    # HSIC_ZZ = ||H K H||_F^2 / (M N)^2.
    kernel = c / np.sqrt(distances ** 2 + c ** 2)
    same_image = np.tile(np.eye(N, dtype=bool), (M, M)) & ~np.eye(M * N, dtype=bool)
    expected_zy = kernel[same_image].mean() - kernel.mean() + 1.0 / (M - 1)
    centred = kernel - kernel.mean(0, keepdims=True) - kernel.mean(1, keepdims=True) + kernel.mean()
    expected_zz = (centred ** 2).sum() / (M * N) ** 2
    assert m["hsic_zy"] == pytest.approx(expected_zy, rel=1e-4)
    assert m["hsic_zz"] == pytest.approx(expected_zz, rel=1e-4)
    assert m["hsic_zy_excess"] == pytest.approx(expected_zy - 1.0 / (M - 1), abs=1e-6)
    # Alignment: mean squared distance of two views of one image, over every pair of views.
    pairs = [((z[p] - z[q]) ** 2).sum(-1).mean() for p in range(M) for q in range(p + 1, M)]
    assert m["alignment"] == pytest.approx(np.mean(pairs), rel=1e-3)
    # InfoNCE at T = 0.1 over the first two views (SimCLR's 2N-way softmax).
    pair = np.concatenate([z[0], z[1]])
    logits = pair @ pair.T / 0.1
    np.fill_diagonal(logits, -np.inf)
    positives = np.concatenate([np.arange(N, 2 * N), np.arange(N)])
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert m["infonce"] == pytest.approx(-log_softmax[np.arange(2 * N), positives].mean(),
                                         rel=1e-3)
    assert np.asarray(rep["plot"]["positive_cosine"]) == pytest.approx((z[0] * z[1]).sum(-1),
                                                                       abs=1e-5)


def test_knn_is_the_library_protocol(analysed):
    from sslhsic_tf import evaluation

    source, rep = analysed
    train = data.demo("train")
    train_f = _channel_stats(train.images / 255.0)
    test_f = _channel_stats(source.images / 255.0)
    expected = evaluation.knn_evaluate(train_f, train.labels, test_f, source.labels, ks=(200,))
    assert rep["metrics"]["knn_top1"] == pytest.approx(expected[0]["top1"], abs=1e-9)
    assert "k = 200" in rep["metrics"]["knn_protocol"]


def test_random_features_agree_with_the_exact_estimator():
    source = data.demo("test")
    encoder = _stats_encoder()
    exact = report.analyze(encoder, source, num_images=400, num_views=2, seed=1)["metrics"]
    approx = report.analyze(encoder, source, num_images=400, num_views=2, seed=1, exact_limit=100,
                            num_features=1024, draws=4)["metrics"]
    assert approx["estimator"] == "1024 random features" and approx["draws"] == 4
    assert approx["hsic_zy_std"] > 0
    # The estimator's own spread over draws bounds its error (with a margin for 4 draws).
    tolerance = 4 * approx["hsic_zy_std"] + 0.02 * abs(exact["hsic_zy"])
    assert abs(approx["hsic_zy"] - exact["hsic_zy"]) < tolerance, (approx, exact)


def test_size_mismatch_and_bad_arguments_are_named():
    source = data.demo("test")
    with pytest.raises(ValueError, match=r"encoder takes 64x64 images, the views gives 32x32: "
                                         r"pass data at the encoder's training size"):
        report.analyze(_stats_encoder(64), source, num_images=8)
    with pytest.raises(ValueError, match=r"num_images=2000 but the source has 1000 images: "
                                         r"pass num_images <= 1000"):
        report.analyze(_stats_encoder(), source, num_images=2000)
    with pytest.raises(ValueError, match=r"num_views must be an int >= 2"):
        report.analyze(_stats_encoder(), source, num_images=8, num_views=1)


@pytest.mark.slow
def test_analyze_script_writes_json_dashboards_and_table(tmp_path):
    keras.utils.set_random_seed(0)
    encoder_file = tmp_path / "encoder.keras"
    serving.save_keras(models.resnet(18, 0.125, cifar_stem=True), encoder_file)
    out = tmp_path / "out"
    ok, bad_size, bad_random = scripts.run_many([
        ("analyze", [f"--encoder={encoder_file}", "--encoder=random:resnet18x0.125",
                     "--encoder=zoo:cissl_resnet18x0.25_cifar10",  # a zoo entry (its .keras)
                     "--data=demo:test", "--knn_train=demo:train", "--num_images=64",
                     "--num_views=2", f"--out={out}"], None),
        ("analyze", [f"--encoder={encoder_file}", "--data=demo:test", "--num_images=5000"], None),
        ("analyze", ["--encoder=random:vit", "--data=demo:test", f"--out={tmp_path / 'x'}"], None),
    ])
    assert ok.returncode == 0, ok.stderr[-3000:]
    result = json.loads((out / "analysis.json").read_text())
    names = [e["name"] for e in result["encoders"]]
    assert names == ["encoder.keras", "random_resnet18x0.125", "cissl_resnet18x0.25_cifar10"]
    for entry in result["encoders"]:
        assert {"hsic_zy", "hsic_zz", "infonce", "alignment", "uniformity", "rankme",
                "label_cka", "knn_top1"} <= set(entry["metrics"])
        png = out / f"{entry['name']}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    table = [line for line in ok.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 4 and "HSIC(Z, Y)" in table[0] and "random_resnet18x0.125" in table[2]
    # The zoo encoder learned something the random one has not (README: 34.1% vs 28.4% on all
    # 1,000 test images; here 64 of them).
    zoo, random = result["encoders"][2]["metrics"], result["encoders"][1]["metrics"]
    assert zoo["rankme"] > random["rankme"] and zoo["uniformity"] < random["uniformity"]
    scripts.assert_user_error(bad_size, "--num_images=5000 but --data=demo:test has 1000 images",
                              "pass --num_images<=1000", code=1)
    scripts.assert_user_error(bad_random, "--encoder=random:vit: expected "
                              "random:resnetDEPTHxWIDTH", code=1)
