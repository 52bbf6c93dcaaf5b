"""SSL-HSIC without a target network must not collapse (issue 13), caught in under 2 minutes.

Measured (benchmarks/ssl_hsic_collapse.py): with the BYOL projector (no output BatchNorm) the
normalised projections of the no-target variant fall together within 15 steps (their mean
squared distance from 1.3 to 0.02) while the learned bandwidth, moving about 1% a step, cannot
follow; HSIC(Z, Y) then sits at its collapse level 1/(M - 1). The projector's output BatchNorm,
the no-target default, keeps them apart. Both are run here on the embedded demo subset with
a ResNet-10 at 1/8 width, batch 128, 15 steps (under a minute of CPU): the control proves the
measurement sees a collapse.
"""

import keras
import numpy as np
import pytest

from sslhsic_tf import data, methods, models
from sslhsic_tf.objectives._numerics import l2_normalize

STEPS, BATCH = 15, 128


def _spread(model, views):
    """Mean squared distance between the normalised projections of one fixed batch (batch
    statistics in BatchNorm, as in the step)."""
    z = np.asarray(l2_normalize(model.projector(model.encoder(views[0], training=True),
                                                training=True)))
    sq = (z * z).sum(1)
    return float((sq[:, None] + sq[None, :] - 2 * z @ z.T).mean())


def _train(**override):
    keras.utils.set_random_seed(0)
    encoder = models.resnet(10, 0.125, cifar_stem=True)
    model = methods.create(
        "ssl_hsic_no_target", encoder, total_steps=200, batch_size=BATCH,
        projector_hidden=512, projection_dim=64, bandwidth_learning_rate=1e-2,
        **override,
        optimizer_config={"base_learning_rate": 1.0, "trust_coefficient": 0.02,
                          "weight_decay": 1e-5})
    model.compile()
    train = data.demo("train")
    probe = next(iter(data.pretrain_dataset(train, "cifar10", BATCH, seed=1)))["views"]
    before = _spread(model, probe)
    history = model.fit(data.pretrain_dataset(train, "cifar10", BATCH, seed=0),
                        steps_per_epoch=STEPS, epochs=1, verbose=0).history
    return model.projector_output_bn, before, _spread(model, probe), history["hsic_zy"][-1]


@pytest.mark.slow
def test_no_target_variant_keeps_its_projections_apart():
    output_bn, before, after, hsic_zy = _train()  # the shipped default
    assert output_bn is True
    assert after > 0.5 * before, (before, after, hsic_zy)  # measured: 1.98 -> 1.99
    # The control: the same run with the BYOL projector collapses (so the check can fail).
    _, before_c, after_c, hsic_zy_c = _train(projector_output_bn=False)
    assert after_c < 0.15 * before_c, (before_c, after_c, hsic_zy_c)  # measured: 1.49 -> 0.07

