"""Input: sources -> augmentation -> `{"views": (v1, v2, ...), "label": y}` batches.

Modules: `augment` (view/eval configs and presets), `pixel` (keras.ops pixel augmentations),
`crops` (random resized crops as interpolation matrices), `device` (augmentation inside a
training step), `decode`, `sources` (ImageSource and its constructors), `pipeline`
(pretraining, evaluation and probe-training datasets).
"""

from sslhsic_tf.data import augment, crops, decode, device, pixel, pipeline, sources
from sslhsic_tf.data.augment import (
    EVAL_PRESETS,
    PRESETS,
    CropConfig,
    EvalConfig,
    PixelConfig,
    ViewConfig,
    byol_views,
    cifar_views,
    coarsen,
    issl_multicrop,
    issl_tinyimagenet_views,
    resolve_eval,
    resolve_pixel,
    resolve_views,
)
from sslhsic_tf.data.crops import random_resized_crop
from sslhsic_tf.data.device import augment_views, pixel_augment_views
from sslhsic_tf.data.pipeline import (
    distribute_pretrain_dataset,
    eval_dataset,
    pretrain_dataset,
    pretrain_dataset_fn,
    probe_train_dataset,
    steps_per_epoch,
)
from sslhsic_tf.data.pixel import pixel_augment
from sslhsic_tf.data.sources import (
    ImageSource,
    cifar10_archive,
    cifar10_lossless,
    demo,
    describe_spec,
    fashion_mnist,
    from_arrays,
    from_dataset,
    from_spec,
    image_folder,
    tfds_source,
)
