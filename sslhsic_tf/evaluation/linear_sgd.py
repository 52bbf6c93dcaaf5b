"""SGD linear probe with augmentation on a frozen encoder (the SSL-HSIC / BYOL protocol).

The encoder runs in inference mode (BatchNorm moving statistics) and is not trainable; a zero-
initialised linear head is trained with SGD, momentum 0.9, no weight decay, learning rate
`base_learning_rate * batch / 256` (0.5 × batch/256 by default) decayed by a cosine schedule,
on randomly cropped and flipped images, and tested on centre crops. With `ema_decay` (0.999) the
reported classifier is the exponential moving average of the head (Keras' optimizer EMA);
the last iterate is reported alongside.
"""

import keras

from sslhsic_tf.evaluation._checks import check_positive_float, check_positive_int
from sslhsic_tf.evaluation.classifier import (
    supervised_setup,
    EncoderClassifier,
    evaluate_classifier,
    frozen,
    learning_rate_schedule,
    train_classifier,
)
from sslhsic_tf.evaluation.features import transform_name


def linear_sgd_evaluate(
    encoder,
    train_data,
    test_data,
    num_classes=None,
    epochs=90,
    batch_size=256,
    base_learning_rate=0.5,
    learning_rate=None,
    momentum=0.9,
    schedule="cosine",
    ema_decay=0.999,
    train_transform="default",
    test_transform="default",
    eval_config="auto",
    seed=0,
    jit_compile="auto",
):
    """Trains and tests the SGD linear probe; returns one JSON-ready record.

    The encoder's weights and BatchNorm statistics are left unchanged (its `trainable` flags
    are restored afterwards).

    Args:
      encoder: `keras.Model`, float32 `[B, H, W, 3]` in [0, 1] -> `[B, F]`.
      train_data, test_data: `(images, labels)` arrays or finite `tf.data.Dataset`s.
      num_classes: C; default from the labels (a pass over a dataset).
      epochs: passes over `train_data`.
      batch_size: for arrays / per-example datasets (a batched dataset keeps its batches).
      base_learning_rate: lr per 256 examples; the lr is `base_learning_rate * batch / 256`.
      learning_rate: overrides the scaled lr when given.
      momentum: SGD momentum (no weight decay, no Nesterov).
      schedule: "cosine" (to 0 over training) or "constant".
      ema_decay: EMA decay of the head weights, or `None` for none.
      train_transform, test_transform: callables on image batches, `None` for the identity,
        or "default": the probe-training (random crop + flip) and test (centre crop)
        transforms of `eval_config`.
      eval_config: `EvalConfig`, preset name ("cifar10", "imagenet", ...), int size, or "auto"
        (from the train images' size; see `sslhsic_tf.evaluation.transforms`).
      seed: shuffling (arrays) and augmentation seed.
      jit_compile: passed to `compile`.

    Returns:
      `{"protocol": "linear_sgd", "epochs", "batch_size", "learning_rate", "base_learning_rate",
      "momentum", "weight_decay": 0, "schedule", "ema_decay", "reported", "train_transform",
      "test_transform", "seed", "num_train", "num_test", "train_loss", "top1", "top5",
      "final_weights": {"top1", "top5"}}`; `top1`/`top5` are the EMA head's when `ema_decay`.
    """
    epochs = check_positive_int(epochs, "epochs")
    momentum = check_positive_float(momentum, "momentum", allow_zero=True)
    if ema_decay is not None:
        ema_decay = check_positive_float(ema_decay, "ema_decay")
        if ema_decay >= 1:
            raise ValueError(f"`ema_decay` must be in (0, 1) or None; got {ema_decay}")
    setup = supervised_setup(
        train_data, test_data, num_classes=num_classes, batch_size=batch_size, epochs=epochs,
        train_transform=train_transform, test_transform=test_transform, eval_config=eval_config,
        learning_rate=learning_rate, base_learning_rate=base_learning_rate,
    )
    train_transform, test_transform = setup.train_transform, setup.test_transform
    train_labels, test_labels, num_classes = setup.train_labels, setup.test_labels, setup.num_classes
    batch, learning_rate, total_steps = setup.batch, setup.learning_rate, setup.total_steps

    model = EncoderClassifier(encoder, num_classes, freeze_encoder=True, name="linear_probe")
    with frozen(encoder):
        model.compile(
            optimizer=keras.optimizers.SGD(
                learning_rate_schedule(learning_rate, schedule, total_steps),
                momentum=momentum,
                use_ema=ema_decay is not None,
                ema_momentum=ema_decay if ema_decay is not None else 0.99,
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
        losses = train_classifier(model, train_data, epochs, batch_size, train_transform, seed, "train_data")
        final = evaluate_classifier(model, test_data, batch_size, test_transform, "test_data")
        reported = final
        if ema_decay is not None:
            model.optimizer.finalize_variable_values(model.trainable_variables)
            reported = evaluate_classifier(model, test_data, batch_size, test_transform, "test_data")
    return {
        "protocol": "linear_sgd",
        "epochs": epochs,
        "batch_size": int(batch),
        "learning_rate": float(learning_rate),
        "base_learning_rate": float(base_learning_rate),
        "momentum": momentum,
        "weight_decay": 0.0,
        "schedule": schedule,
        "ema_decay": ema_decay,
        "reported": "ema" if ema_decay is not None else "final_weights",
        "train_transform": transform_name(train_transform),
        "test_transform": transform_name(test_transform),
        "seed": int(seed),
        "num_train": int(train_labels.shape[0]),
        "num_test": int(test_labels.shape[0]),
        "train_loss": [float(v) for v in losses],
        **reported,
        "final_weights": final,
    }
