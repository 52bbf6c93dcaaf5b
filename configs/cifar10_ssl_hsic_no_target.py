"""CIFAR-10, ResNet-18 (CIFAR stem), ssl_hsic_no_target: TFDS cifar10 (a local copy with
--config.data.dataset=cifar10_archive:PATH), recipes.md's CIFAR augmentations, batch 256, 1000
epochs (shorten with --config.epochs=...).

The paper's second variant: M = 2 lists of online projections, no predictor, no EMA target. The
projector ends in BatchNorm (`projector_output_bn=True`, the variant's default since the collapse fix, docs/no_target_collapse.md):
with the BYOL projector the projections fall together within 15 steps and HSIC(Z, Y) sits at
its collapse level 1/(M - 1) (benchmarks/ssl_hsic_collapse.py shows the measurements).

The optimiser: SimCLR's SGD recipe in this loss's gradient scale (`common.sgd_recipe(7.5)`,
c = 7.5 from benchmarks/gradient_scale.py): SGD, momentum 0.9, lr 0.9 x batch/256, weight decay
6.7e-5 coupled as torch's on every weight but the biases and BatchNorm parameters
(`exclude_norm_and_bias`: lightly decays those too, which shrinks BatchNorm's scale to 0.22 in 40
epochs and cost fine-tuning on 1% of the labels 7.6 points; docs/long_runs.md), cosine, no warmup.

    python -m sslhsic_tf.pretrain --config=configs/cifar10_ssl_hsic_no_target.py \\
        --workdir=runs/no_target --config.epochs=40 --config.model.width_multiplier=0.25

Expected (ResNet-18 x0.25, a whole 40-epoch schedule, bf16 on an AVX-512 CPU, 2.33 CPU-hours): kNN 67.4% (k = 200), linear 69.8%, fine-tuned 59.4% with 1% of the labels: the
zoo entry ssl_hsic_no_target_resnet18x0.25_cifar10_40ep_v2 (its manifest has the command).
The 100-epoch schedule stopped after 15 epochs (--config.stop_after_epochs=15; every weight
decayed then; float32 on a 2-core CPU, 3.1 CPU-hours): kNN top-1 (k = 200,
cosine, T = 0.07) 60.9% on the 10,000 test images; the monitor (first 5,000) read 47.3, 52.1,
53.9, 55.5, 57.3, 59.2, 60.9 at epochs 2-14, where the former LARS settings (lr 1.0 x
batch/256, trust 0.02, weight decay 1e-5, 1% warmup; give them as --config.optimizer.* to
resume a run of before, as the zoo entry's command does) read 43.9, 47.8, 48.2, 48.8, 49.5,
49.8, 49.7 (docs/long_runs.md).
"""

from sslhsic_tf.configs import common


def get_config():
    c = common.cifar10("ssl_hsic_no_target")
    c.export.name = "ssl_hsic_no_target_resnet18_cifar10"
    return c
