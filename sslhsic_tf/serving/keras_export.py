"""The Keras 3 export route: an inference SavedModel, endpoint `serve` (as `model.export(path)`).

Reload it in Keras 3 with `keras.layers.TFSMLayer(path, call_endpoint="serve")`. Unlike a plain
`model.export`, the endpoint enforces the input contract of `sslhsic_tf.serving.contract`
(float32 RGB `[B, H, W, 3]` in [0, 1] at exactly the training size) and the folder carries
`sslhsic_tf_export.json`. The endpoint runs the encoder in inference mode and has no trainable
`training=True` path: for fine-tuning use `export_hub` (TF-Hub) or the `.keras` file.
"""

import functools

import keras
import tensorflow as tf

from sslhsic_tf.serving._atomic import atomic_directory
from sslhsic_tf.serving.contract import (
    INPUT_NAME,
    OUTPUT_NAME,
    build_metadata,
    checked_features,
    normalize_image_size,
    write_metadata,
)
from sslhsic_tf.serving.hub_export import (
    _check_encoder,
    _require_tensorflow_backend,
    probe_feature_dim,
)

ENDPOINT = "serve"


def export_keras(encoder, path, *, image_size, check_range=True, overwrite=False, metadata=None):
    """Writes `encoder` as an inference SavedModel with endpoint `serve`; returns its metadata.

    Args are those of `export_hub`. The `serve` endpoint (also `serving_default`) maps float32
    `images` `[B, H, W, 3]` to float32 `[B, F]`; a wrong rank, size, channel count, or a value
    outside [0, 1] (when `check_range`) fails at call time with `InvalidArgumentError`.
    A wrong dtype fails with TensorFlow's dispatch error naming the expected float32 spec.
    """
    _require_tensorflow_backend("export_keras")
    _check_encoder(encoder)
    image_size = normalize_image_size(image_size)
    if not isinstance(check_range, bool):
        raise TypeError(f"check_range must be a bool; got {check_range!r}")
    feature_dim = probe_feature_dim(encoder, image_size)
    encode = functools.partial(encoder, training=False)

    def serve(images):
        return checked_features(encode, images, image_size, check_range, feature_dim)

    archive = keras.export.ExportArchive()
    archive.track(encoder)
    archive.add_endpoint(
        ENDPOINT, serve, input_signature=[tf.TensorSpec(None, tf.float32, name=INPUT_NAME)]
    )
    doc = build_metadata(
        "keras_export_archive",
        image_size=image_size,
        feature_dim=feature_dim,
        check_range=check_range,
        endpoints={
            ENDPOINT: f"{INPUT_NAME} -> {OUTPUT_NAME} [batch, feature_dim] (inference mode)",
            "serving_default": f"same as {ENDPOINT}",
        },
        encoder_name=getattr(encoder, "name", None),
        extra=metadata,
    )
    with atomic_directory(path, overwrite=overwrite) as tmp:
        archive.write_out(str(tmp), verbose=False)
        write_metadata(tmp, doc)
    return doc
