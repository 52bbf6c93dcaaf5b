"""Fine-tuning: the whole encoder and a linear head trained on labelled data.

The encoder runs in training mode (BatchNorm batch statistics, moving statistics updated) and
every weight is trained. By default a copy of the encoder is trained, so the caller's
pretrained encoder stays untouched for the other protocols. Default optimizer: SGD with
Nesterov momentum 0.9, learning rate 0.05 × batch/256 decayed by a cosine schedule, no weight
decay (the SimCLR semi-supervised setting); any Keras optimizer can be passed instead.
Testing uses the BatchNorm moving statistics, so a very short run needs a BatchNorm momentum
low enough for them to follow the changing weights (the library's BatchNorm uses 0.9).
"""

import keras

from sslhsic_tf.evaluation._checks import check_positive_float, check_positive_int
from sslhsic_tf.evaluation.classifier import (
    supervised_setup,
    EncoderClassifier,
    copy_model,
    evaluate_classifier,
    learning_rate_schedule,
    to_jsonable,
    train_classifier,
)
from sslhsic_tf.evaluation.features import transform_name
from sslhsic_tf.evaluation.inputs import iterate_batches


def _optimizer(optimizer, learning_rate, schedule, total_steps, momentum, nesterov, weight_decay):
    if optimizer is None:
        return keras.optimizers.SGD(
            learning_rate_schedule(learning_rate, schedule, total_steps),
            momentum=check_positive_float(momentum, "momentum", allow_zero=True),
            nesterov=bool(nesterov),
            weight_decay=check_positive_float(weight_decay, "weight_decay", allow_zero=True) or None,
        )
    if isinstance(optimizer, (str, dict)):
        return keras.optimizers.get(optimizer)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if optimizer.built:
            raise ValueError("`optimizer` has already been used; pass a fresh optimizer instance")
        return optimizer
    raise TypeError(
        f"`optimizer` must be None, a keras optimizer, its name or its config dict; got {type(optimizer).__name__}"
    )


def finetune_evaluate(
    encoder,
    train_data,
    test_data,
    num_classes=None,
    epochs=30,
    batch_size=256,
    optimizer=None,
    base_learning_rate=0.05,
    learning_rate=None,
    momentum=0.9,
    nesterov=True,
    weight_decay=0.0,
    schedule="cosine",
    train_transform="default",
    test_transform="default",
    eval_config="auto",
    seed=0,
    copy_encoder=True,
    jit_compile="auto",
    return_model=False,
):
    """Fine-tunes `encoder` with a zero-initialised linear head; returns a JSON-ready record.

    Args:
      encoder: `keras.Model`, float32 `[B, H, W, 3]` in [0, 1] -> `[B, F]`.
      train_data, test_data: `(images, labels)` arrays or finite `tf.data.Dataset`s.
      num_classes: C; default from the labels.
      epochs, batch_size: training length and batch (a batched dataset keeps its batches).
      optimizer: `None` for the default SGD below, or a fresh `keras.optimizers.Optimizer`,
        its name or config dict (then the lr/momentum/schedule arguments are ignored).
      base_learning_rate, learning_rate, momentum, nesterov, weight_decay, schedule: the
        default optimizer; lr is `base_learning_rate * batch / 256` unless `learning_rate`.
      train_transform, test_transform, eval_config: as in `linear_sgd_evaluate` (by default
        random crop + flip for training, centre crop for testing, at the data's resolution).
      seed: shuffling (arrays) and augmentation seed.
      copy_encoder: train a copy (default) rather than `encoder` itself.
      return_model: also return the trained `EncoderClassifier`.

    Returns:
      `{"protocol": "finetune", "epochs", "batch_size", "optimizer" (its Keras config),
      "train_transform", "test_transform", "seed", "num_train", "num_test", "train_loss",
      "top1", "top5"}`, and the model if `return_model`.
    """
    epochs = check_positive_int(epochs, "epochs")
    setup = supervised_setup(
        train_data, test_data, num_classes=num_classes, batch_size=batch_size, epochs=epochs,
        train_transform=train_transform, test_transform=test_transform, eval_config=eval_config,
        learning_rate=learning_rate, base_learning_rate=base_learning_rate,
    )
    train_transform, test_transform = setup.train_transform, setup.test_transform
    train_labels, test_labels, num_classes = setup.train_labels, setup.test_labels, setup.num_classes
    batch, learning_rate, total_steps = setup.batch, setup.learning_rate, setup.total_steps
    optimizer = _optimizer(optimizer, learning_rate, schedule, total_steps, momentum, nesterov, weight_decay)

    if copy_encoder:
        sample, _ = next(iterate_batches(train_data, "train_data", batch_size))
        encoder = copy_model(encoder, sample)
    encoder.trainable = True
    model = EncoderClassifier(encoder, num_classes, freeze_encoder=False, name="finetune")
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    losses = train_classifier(model, train_data, epochs, batch_size, train_transform, seed, "train_data")
    model.optimizer.finalize_variable_values(model.trainable_variables)
    result = evaluate_classifier(model, test_data, batch_size, test_transform, "test_data")
    record = {
        "protocol": "finetune",
        "epochs": epochs,
        "batch_size": int(batch),
        "optimizer": to_jsonable(keras.optimizers.serialize(model.optimizer)),
        "train_transform": transform_name(train_transform),
        "test_transform": transform_name(test_transform),
        "seed": int(seed),
        "num_train": int(train_labels.shape[0]),
        "num_test": int(test_labels.shape[0]),
        "train_loss": [float(v) for v in losses],
        **result,
    }
    return (record, model) if return_model else record
