"""An ImageNet-stem ResNet encoder as a KerasHub preset: `keras_hub.models.ResNetBackbone.
from_preset(DIR)` loads it with the same weights (keras-hub >= 0.32, an optional dependency).

KerasHub's ResNet v1 (`block_type="basic_block"` / `"bottleneck_block"`) is this library's
ResNet with torchvision padding (`padding="symmetric"`): the stride of a bottleneck on its 3x3
convolution, explicit zero padding before strided layers, no convolution biases, BatchNorm with
momentum 0.9 and epsilon 1e-5. Two differences are bridged: the backbone takes standardised
images and returns the last feature map, so the preset also holds a `ResNetImageConverter`
whose scale and offset are the encoder's own standardisation of [0, 1] images (the converter's
output through the backbone, averaged over space, is the encoder's features); and KerasHub
requires 64 stem filters, so only width 1 exports.
"""

import numpy as np

from sslhsic_tf.serving._atomic import atomic_directory


def _structure(encoder):
    """(block kind, blocks per stage, mean, std) of a ResNet of `models.resnet`, checked to be
    one KerasHub's ResNetBackbone can hold."""
    layers = {layer.name: layer for layer in encoder.layers}
    if "stem_conv" not in layers or "avg_pool" not in layers:
        raise ValueError(f"encoder {encoder.name!r} is not a ResNet of sslhsic_tf.models.resnet")
    if "stem_pool" not in layers:
        raise ValueError("only ImageNet-stem encoders export as a KerasHub ResNet preset (the "
                         "CIFAR stem has no KerasHub equivalent); this one has the CIFAR stem")
    if layers["stem_conv"].filters != 64:
        raise ValueError(f"KerasHub's ResNetBackbone needs 64 stem filters (width 1); this "
                         f"encoder has {layers['stem_conv'].filters}")
    if "stem_conv_pad" not in layers:
        raise ValueError("the encoder pads as TensorFlow's SAME (padding='same'); KerasHub pads "
                         "as torchvision: export encoders built with padding='symmetric'")
    blocks = [max(int(name.split("_block")[1].split("_")[0]) for name in layers
                  if name.startswith(f"stage{stage}_block")) for stage in range(1, 5)]
    kind = "bottleneck_block" if any(n.endswith("_conv3") for n in layers) else "basic_block"
    normalize = layers.get("normalize")
    if normalize is None:
        mean, std = np.zeros(3), np.ones(3)
    else:
        mean, std = np.asarray(normalize.mean, float), np.asarray(normalize.std, float)
    return kind, blocks, mean, std


def _their_name(name):
    """KerasHub's layer name for one of ours (None for layers without weights there)."""
    if name == "stem_conv":
        return "conv1_conv"
    if name == "stem_bn":
        return "conv1_bn"
    if not name.startswith("stage"):
        return None
    stage, rest = name[len("stage"):].split("_block", 1)
    block, part = rest.split("_", 1)
    prefix = f"stack{int(stage) - 1}_block{int(block) - 1}"
    if part in ("proj_conv", "proj_bn"):
        return f"{prefix}_0_{part.split('_')[1]}"
    for kind in ("conv", "bn"):
        if part.startswith(kind) and part[len(kind):].isdigit():
            return f"{prefix}_{part[len(kind):]}_{kind}"
    return None


def export_keras_hub_preset(encoder, path, *, overwrite=False):
    """Writes `encoder` (ImageNet stem, width 1, `padding="symmetric"`) as a KerasHub preset
    folder at `path`: `keras_hub.models.ResNetBackbone.from_preset(path)` and
    `keras_hub.layers.ResNetImageConverter.from_preset(path)` load it; returns the backbone."""
    import keras_hub

    kind, blocks, mean, std = _structure(encoder)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2], block_type=kind, use_pre_activation=False,
        image_shape=(None, None, 3), dtype="float32")
    theirs = {layer.name: layer for layer in backbone.layers if layer.weights}
    assigned = set()
    for layer in encoder.layers:
        if not layer.weights:
            continue
        target = _their_name(layer.name)
        if target not in theirs:
            raise ValueError(f"layer {layer.name!r} has no KerasHub counterpart ({target!r})")
        theirs[target].set_weights([np.asarray(w) for w in layer.get_weights()])
        assigned.add(target)
    missing = sorted(set(theirs) - assigned)
    if missing:
        raise ValueError(f"KerasHub layers left without weights: {missing[:4]}")
    converter = keras_hub.layers.ResNetImageConverter(
        scale=(1.0 / std).tolist(), offset=(-mean / std).tolist())
    with atomic_directory(path, overwrite=overwrite) as tmp:
        backbone.save_to_preset(str(tmp))
        converter.save_to_preset(str(tmp))
    return backbone
