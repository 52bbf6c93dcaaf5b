"""The evaluation protocols under the JAX backend (own process): same features as TensorFlow,
kNN in keras.ops on JAX, an SGD probe with the default pad-crop-flip transform that leaves the
encoder untouched, and fine-tuning."""

import numpy as np

from sslhsic_tf.evaluation import extract_features
from tests.helpers import run_python


def test_protocols_under_jax(tmp_path, encoder_factory, colour_data):
    encoder = encoder_factory()
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    images, labels = colour_data(24, seed=0, hidden=False)
    np.savez(str(tmp_path / "data.npz"), images=images, labels=labels)
    tf_features, _ = extract_features(encoder, (images, labels), batch_size=10)

    out = run_python(f"""
        import json
        import keras
        import numpy as np
        from sslhsic_tf.evaluation import extract_features, knn_scores, linear_sgd_evaluate, finetune_evaluate
        from sslhsic_tf.data.augment import EvalConfig

        assert keras.backend.backend() == "jax"
        encoder = keras.saving.load_model({path!r})
        data = np.load({str(tmp_path / "data.npz")!r})
        images, labels = data["images"], data["labels"]
        features, _ = extract_features(encoder, (images, labels), batch_size=10)
        scores = knn_scores(features[:16], labels[:16], features[16:], ks=(3,), temperature=0.1)[3]

        before = [w.copy() for w in encoder.get_weights()]
        probe = linear_sgd_evaluate(encoder, (images, labels), (images, labels), epochs=2, batch_size=8,
                                    eval_config=EvalConfig(8, crop_fraction=1.0, probe_mode="pad_crop", padding=1))
        unchanged = all(np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))
        tuned = finetune_evaluate(encoder, (images, labels), (images, labels), epochs=1, batch_size=8,
                                  train_transform=None, test_transform=None)
        print(json.dumps({{"features": features.tolist(), "scores": scores.tolist(), "unchanged": unchanged,
                          "probe_loss": probe["train_loss"], "probe_transform": probe["train_transform"], "finetune_top1": tuned["top1"]}}))
    """)
    jax_features = np.array(out["features"])
    np.testing.assert_allclose(jax_features, tf_features, rtol=1e-4, atol=1e-5)
    train, query = jax_features[:16], jax_features[16:]
    cos = (query / np.linalg.norm(query, axis=1, keepdims=True)) @ (train / np.linalg.norm(train, axis=1, keepdims=True)).T
    expected = np.zeros((8, 2))
    for row in range(8):
        for j in np.argsort(-cos[row])[:3]:
            expected[row, labels[j]] += np.exp(cos[row, j] / 0.1)
    np.testing.assert_allclose(out["scores"], expected, rtol=1e-4)
    assert out["unchanged"]
    assert len(out["probe_loss"]) == 2 and all(np.isfinite(out["probe_loss"]))
    assert out["probe_transform"] == "pad_crop_flip(size=8, padding=1)"
    assert 0.0 <= out["finetune_top1"] <= 1.0
