"""Exporting encoders: TF-Hub reusable SavedModel, Keras export archive, and the `.keras` format.

Every SavedModel export states and enforces one input contract (`contract.py`): float32 RGB
`[B, H, W, 3]` in [0, 1] at exactly the training size in, float32 `[B, F]` out; the folder holds
`sslhsic_tf_export.json` describing it. TensorFlow backend only for the SavedModel exports; the
`.keras` format works on any backend.

Names are imported on first use, so that `import_tensorflow_hub` in a tf_keras process does not
import Keras 3.
"""

import importlib

_EXPORTS = {
    "INPUT_NAME": "contract",
    "METADATA_FILENAME": "contract",
    "OUTPUT_NAME": "contract",
    "normalize_image_size": "contract",
    "read_export_metadata": "contract",
    "import_tensorflow_hub": "hub_compat",
    "HubEncoderModule": "hub_export",
    "export_hub": "hub_export",
    "make_hub_module": "hub_export",
    "ENDPOINT": "keras_export",
    "export_keras": "keras_export",
    "export_keras_hub_preset": "keras_hub_preset",
    "load_keras": "keras_format",
    "resnet_from_saved_model": "from_saved_model",
    "save_keras": "keras_format",
    "unloadable_objects": "keras_format",
    "with_dtype_policy": "keras_format",
}


def __getattr__(name):
    if name in _EXPORTS:
        try:
            module = importlib.import_module(f"sslhsic_tf.serving.{_EXPORTS[name]}")
        except ImportError as e:
            if "tensorflow" not in str(e):
                raise
            raise ImportError(
                f"sslhsic_tf.serving.{name} needs TensorFlow (SavedModel export), which is not "
                "installed; save the model with model.save('m.keras') (any backend) and export "
                "it where TensorFlow is installed"
            ) from e
        return getattr(module, name)
    raise AttributeError(f"module 'sslhsic_tf.serving' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
