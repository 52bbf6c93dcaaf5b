"""Our SimCLR components against an independent PyTorch + torchvision + lightly build.

Two halves, two environments (PyTorch is never a dependency of the package):

    python -m benchmarks.torch_parity dump --out /tmp/parity.npz          # ours (TensorFlow)
    TORCH_PYTHON benchmarks/torch_parity.py compare /tmp/parity.npz --png /tmp/parity.png

`TORCH_PYTHON` is a virtual environment with `torch torchvision lightly` (e.g.
`python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.14.1 torchvision==0.29.1
lightly`). `dump` writes, from our code: a ResNet-18 x0.25 (CIFAR stem) with its weights and its
features on a fixed batch (train and inference mode), InfoNCE with its gradient on fixed
projections, three LARS steps on fixed gradients under the warmup-cosine schedule, augmented
views of 1,024 demo images with the parameters behind them, crop boxes, and per-layer
initialisation statistics. `compare` rebuilds each component on the PyTorch side (a ResNet-18
written here, lightly's `NTXentLoss` and `LARS`, torchvision v2 transforms), feeds the same
inputs, and prints one table of differences and statistics; `--png` saves a grid of our views
above torchvision's.
"""

import argparse
import math
import sys

import numpy as np

WIDTH = 0.25
LARS_KW = dict(momentum=0.9, trust=0.02, weight_decay=1e-5, peak=1.0, warmup=10, total=585)


# ----------------------------------------------------------------------------------- ours
def dump(out):
    import keras
    import tensorflow as tf

    from sslhsic_tf import data, models, objectives, optim

    keras.utils.set_random_seed(0)
    result = {}

    # 1. Encoder, both paddings: weights by layer and features on one batch.
    images = data.demo("train").images[:32].astype(np.float32) / 255.0
    result["enc_images"] = images
    for padding in ("same", "symmetric"):
        encoder = models.resnet(18, WIDTH, cifar_stem=True, padding=padding)
        for layer in encoder.layers:
            for v in layer.weights:
                result[f"{padding}/w/{layer.name}/{v.name}"] = v.numpy()
        result[f"{padding}/infer"] = encoder(images, training=False).numpy()
        result[f"{padding}/train"] = encoder(images, training=True).numpy()

    # 2. InfoNCE (T = 0.2) and its gradient.
    z = tf.constant(np.random.default_rng(1).normal(size=(2, 64, 256)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = objectives.infonce_loss(z, temperature=0.2)
    result["nce_z"], result["nce_loss"] = z.numpy(), loss.numpy()
    result["nce_grad"] = tape.gradient(loss, z).numpy()

    # 3. LARS: a conv (adapted), BN gamma/beta and a bias (excluded), three steps.
    rng = np.random.default_rng(2)
    shapes = {"kernel": (3, 3, 4, 8), "gamma": (8,), "beta": (8,), "dense": (8, 10), "bias": (10,)}
    init = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    grads = [{k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()} for _ in range(3)]
    k = LARS_KW
    schedule = optim.WarmupCosine(k["peak"], warmup_steps=k["warmup"], total_steps=k["total"])
    names = list(shapes)
    for run, learning_rate in (("warmup", schedule), ("constant", 0.5)):
        variables = {n: keras.Variable(v, name=n) for n, v in init.items()}
        lars = optim.LARS(learning_rate, momentum=k["momentum"], trust_coefficient=k["trust"],
                          weight_decay=k["weight_decay"],
                          exclude=[variables["gamma"], variables["beta"], variables["bias"]])
        lars.build([variables[n] for n in names])
        for step, g in enumerate(grads):
            lr = schedule(step) if run == "warmup" else learning_rate
            result[f"lars_lr/{run}/{step}"] = np.float32(lr)
            lars.apply([tf.constant(g[n]) for n in names], [variables[n] for n in names])
            for n in names:
                result[f"lars/{run}/{step}/{n}"] = variables[n].numpy()
    for n in names:
        result[f"lars_init/{n}"] = init[n]
        for step in range(3):
            result[f"lars_grad/{step}/{n}"] = grads[step][n]

    # 4. Augmentation: the CIFAR preset's views of 1,024 demo images, and crop boxes.
    source = data.demo("train")
    subset = data.from_arrays(source.images[:1024], source.labels[:1024])
    ds = data.pretrain_dataset(subset, views="cifar10", global_batch_size=1024, seed=0)
    batch = next(iter(ds))
    result["aug_source"] = source.images[:1024]
    result["aug_view0"] = batch["views"][0].numpy()
    result["aug_view1"] = batch["views"][1].numpy()
    from sslhsic_tf.data import crops, pixel

    u = np.random.default_rng(3).random((20000, crops.NUM_CROP_UNIFORMS)).astype(np.float32)
    top, left, ch, cw, flip = crops.crop_boxes_from_uniforms(u, 32, 32, (0.08, 1.0),
                                                             (3 / 4, 4 / 3), 0.5)
    result["crop_hw"] = np.stack([np.asarray(ch), np.asarray(cw)], 1)
    # Jitter alone (p = 1, no grayscale), to read each op's effect on the image statistics.
    jitter = data.PixelConfig(jitter_prob=1.0, grayscale_prob=0.0)
    x = source.images[:1024].astype(np.float32) / 255.0
    for op in ("brightness", "contrast", "saturation", "hue"):
        only = {n: (getattr(jitter, n) if n == op else 0.0)
                for n in ("brightness", "contrast", "saturation", "hue")}
        cfg = data.PixelConfig(jitter_prob=1.0, grayscale_prob=0.0, **only)
        result[f"jitter/{op}"] = np.asarray(pixel.pixel_augment(x, 7, cfg))

    # 5. Initialisation statistics of our encoder and SimCLR projector.
    from sslhsic_tf.models import heads

    projector = heads.byol_projector(2048, 256)
    projector.build((None, encoder.output_shape[-1]))
    for layer in list(encoder.layers) + list(projector._flatten_layers(include_self=False)):
        kernel = getattr(layer, "kernel", None)
        if isinstance(kernel, keras.Variable):
            result[f"init/{layer.name}"] = np.array(
                [np.std(kernel.numpy()), float(np.prod(kernel.shape[:-1]))], np.float32)
    np.savez_compressed(out, **result)
    print(f"wrote {out} ({len(result)} arrays)")


# ------------------------------------------------------------------------------ PyTorch
def _torch_resnet18(width, nn):
    """ResNet-18, CIFAR stem, BasicBlocks, 1x1 projection shortcuts; ImageNet normalisation
    inside (as our encoder); written here from the paper's description."""
    import torch

    c = [int(round(64 * width * m)) for m in (1, 2, 4, 8)]

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.proj = None
            if stride != 1 or cin != cout:
                self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.proj is None else self.proj(x)))

    class Net(nn.Module):
        def __init__(self, pad_same):
            super().__init__()
            self.pad_same = pad_same
            self.stem = nn.Conv2d(3, c[0], 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(c[0])
            blocks, cin = [], c[0]
            for stage, cout in enumerate(c):
                for b in range(2):
                    stride = 2 if stage > 0 and b == 0 else 1
                    blocks.append(Block(cin, cout, stride))
                    cin = cout
            self.blocks = nn.ModuleList(blocks)
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        def forward(self, x):
            x = (x - self.mean) / self.std
            x = torch.relu(self.bn(self.stem(x)))
            for block in self.blocks:
                if self.pad_same and block.conv1.stride[0] == 2:
                    # TensorFlow "SAME" for a stride-2 3x3 conv on even sizes pads 0 before and
                    # 1 after; PyTorch's padding=1 pads 1 on both sides.
                    block.conv1.padding = (0, 0)
                    y = torch.nn.functional.pad(x, (0, 1, 0, 1))
                    y = torch.relu(block.bn1(block.conv1(y)))
                    y = block.bn2(block.conv2(y))
                    x = torch.relu(y + block.proj(x))
                    block.conv1.padding = (1, 1)
                else:
                    x = block(x)
            return x.mean(dim=(2, 3))

    return Net


def _load_keras_weights(net, arrays, torch):
    """Copies our Keras weights (HWIO kernels, BN gamma/beta/mean/var) into the torch net."""
    def conv(module, prefix):
        module.weight.data = torch.tensor(arrays[f"w/{prefix}/kernel"]).permute(3, 2, 0, 1).contiguous()

    def bn(module, prefix):
        for attr, name in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                           ("running_var", "moving_variance")):
            getattr(module, attr).data = torch.tensor(arrays[f"w/{prefix}/{name}"])

    conv(net.stem, "stem_conv")
    bn(net.bn, "stem_bn")
    i = 0
    for stage in range(1, 5):
        for b in range(1, 3):
            block, name = net.blocks[i], f"stage{stage}_block{b}"
            conv(block.conv1, f"{name}_conv1")
            bn(block.bn1, f"{name}_bn1")
            conv(block.conv2, f"{name}_conv2")
            bn(block.bn2, f"{name}_bn2")
            if block.proj is not None:
                conv(block.proj[0], f"{name}_proj_conv")
                bn(block.proj[1], f"{name}_proj_bn")
            i += 1


def compare(path, png):
    import torch
    import torchvision.transforms.v2 as T
    from lightly.loss import NTXentLoss
    from lightly.utils.lars import LARS
    from torch import nn

    a = dict(np.load(path))
    rows = []

    def row(what, value, note=""):
        rows.append((what, value, note))

    # 1. Encoder.
    x = torch.tensor(a["enc_images"]).permute(0, 3, 1, 2)
    for ours in ("same", "symmetric"):
        for pad_same in (True, False):
            net = _torch_resnet18(WIDTH, nn)(pad_same)
            _load_keras_weights(net, {k[len(ours) + 1:]: v for k, v in a.items()
                                      if k.startswith(ours + "/w/")}, torch)
            with torch.no_grad():  # inference first: a train-mode pass moves the running stats
                net.eval()
                infer = net(x).numpy()
                net.train()
                train = net(x).numpy()
            tag = "TF-SAME pads" if pad_same else "torchvision padding=1"
            for mode, got, key in (("train-mode BN", train, "train"),
                                   ("inference BN", infer, "infer")):
                want = a[f"{ours}/{key}"]
                row(f"encoder padding={ours!r} vs torch net with {tag}, {mode}",
                    f"max |diff| {np.abs(got - want).max():.2e}", f"scale {np.abs(want).max():.2f}")

    # 2. InfoNCE vs lightly's NTXentLoss.
    z = torch.tensor(a["nce_z"], requires_grad=True)
    loss = NTXentLoss(temperature=0.2)(z[0], z[1])
    loss.backward()
    row("InfoNCE T=0.2 vs lightly NTXentLoss", f"{a['nce_loss']:.6f} vs {loss.item():.6f}")
    row("InfoNCE gradient", f"max |diff| {np.abs(z.grad.numpy() - a['nce_grad']).max():.2e}",
        f"scale {np.abs(a['nce_grad']).max():.2e}")

    # 3. LARS vs lightly's LARS (decayed + adapted group, and an excluded group with no decay).
    k = LARS_KW
    names = ["kernel", "gamma", "beta", "dense", "bias"]
    for run in ("constant", "warmup"):
        params = {n: torch.tensor(a[f"lars_init/{n}"], requires_grad=True) for n in names}
        adapted = [params["kernel"], params["dense"]]
        excluded = [params["gamma"], params["beta"], params["bias"]]
        opt = LARS([{"params": adapted, "weight_decay": k["weight_decay"]},
                    {"params": excluded, "weight_decay": 0.0}],
                   lr=0.0, momentum=k["momentum"], trust_coefficient=k["trust"])
        for step in range(3):
            lr = float(a[f"lars_lr/{run}/{step}"])
            for group in opt.param_groups:
                group["lr"] = lr
            for n in names:
                params[n].grad = torch.tensor(a[f"lars_grad/{step}/{n}"])
            opt.step()
            ours = {n: a[f"lars/{run}/{step}/{n}"] for n in names}
            worst = max(np.abs(params[n].detach().numpy() - ours[n]).max()
                        / (np.abs(ours[n] - a[f"lars_init/{n}"]).max() + 1e-12) for n in names)
            note = ("constant lr" if run == "constant" else
                    "warmup 10 / 585: lr enters our velocity, lightly's scales the whole buffer")
            row(f"LARS step {step} (lr {lr:.3f})",
                f"max relative diff of the total change {worst:.2e}", note)

    # 4. Augmentation statistics: torchvision v2 with the recipe on the same 1,024 images.
    source = torch.tensor(a["aug_source"]).permute(0, 3, 1, 2)
    recipe = T.Compose([
        T.RandomResizedCrop(32, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToDtype(torch.float32, scale=True),
    ])
    torch.manual_seed(0)
    tv = torch.stack([recipe(img) for img in source]).permute(0, 2, 3, 1).numpy()
    for name, views in (("ours view 1", a["aug_view0"]), ("ours view 2", a["aug_view1"]),
                        ("torchvision", tv)):
        mean = views.reshape(-1, 3).mean(0)
        std = views.reshape(-1, 3).std(0)
        per_image = views.reshape(len(views), -1).mean(1)
        row(f"views: {name}", f"mean {np.round(mean, 3)} std {np.round(std, 3)}",
            f"per-image mean: std {per_image.std():.3f}, "
            f"<0.1: {(per_image < 0.1).mean():.1%}, >0.9: {(per_image > 0.9).mean():.1%}")
    src = a["aug_source"].astype(np.float32) / 255.0
    row("views: source images", f"mean {np.round(src.reshape(-1, 3).mean(0), 3)} "
        f"std {np.round(src.reshape(-1, 3).std(0), 3)}")
    # One jitter op at a time: ratio of per-image mean (brightness), of std (contrast).
    xs = torch.tensor(src).permute(0, 3, 1, 2)
    tv_ops = {"brightness": T.ColorJitter(brightness=0.4), "contrast": T.ColorJitter(contrast=0.4),
              "saturation": T.ColorJitter(saturation=0.2), "hue": T.ColorJitter(hue=0.1)}
    for op, transform in tv_ops.items():
        theirs = torch.stack([transform(img) for img in xs]).permute(0, 2, 3, 1).numpy()
        ours = a[f"jitter/{op}"]
        stat = {"brightness": lambda v: v.reshape(len(v), -1).mean(1),
                "contrast": lambda v: v.reshape(len(v), -1).std(1),
                "saturation": lambda v: (v.max(-1) - v.min(-1)).reshape(len(v), -1).mean(1),
                "hue": lambda v: np.abs(v - src).reshape(len(v), -1).mean(1)}[op]
        base = stat(src) if op != "hue" else 1.0
        r_ours, r_tv = stat(ours) / (base + 1e-6), stat(theirs) / (base + 1e-6)
        row(f"jitter {op} alone: effect ratio 5/50/95%",
            f"ours {np.round(np.percentile(r_ours, [5, 50, 95]), 3)}",
            f"torchvision {np.round(np.percentile(r_tv, [5, 50, 95]), 3)}")
    # Crop boxes: area fraction and aspect ratio against torchvision's sampler.
    hw = a["crop_hw"]
    ours_area, ours_ratio = hw[:, 0] * hw[:, 1] / 1024.0, hw[:, 1] / hw[:, 0]
    img = torch.zeros(3, 32, 32)
    torch.manual_seed(1)
    tv_hw = []
    for _ in range(20000):
        i, j, h, w = T.RandomResizedCrop.get_params(img, scale=[0.08, 1.0], ratio=[3 / 4, 4 / 3])
        tv_hw.append((h, w))
    tv_hw = np.array(tv_hw, np.float32)
    tv_area, tv_ratio = tv_hw[:, 0] * tv_hw[:, 1] / 1024.0, tv_hw[:, 1] / tv_hw[:, 0]
    q = [10, 50, 90]
    row("crop area fraction 10/50/90%", f"ours {np.round(np.percentile(ours_area, q), 3)}",
        f"torchvision {np.round(np.percentile(tv_area, q), 3)}")
    row("crop aspect w/h 10/50/90%", f"ours {np.round(np.percentile(ours_ratio, q), 3)}",
        f"torchvision {np.round(np.percentile(tv_ratio, q), 3)}")

    # 5. Initialisation: our kernel std per layer against PyTorch's defaults.
    init_rows = sorted(k for k in a if k.startswith("init/"))
    for key in init_rows:
        std, fan_in = a[key]
        torch_default = 1.0 / math.sqrt(3.0 * fan_in)  # kaiming_uniform(a=sqrt(5))
        row(f"init std {key[5:]}", f"ours {std:.4f}",
            f"PyTorch default {torch_default:.4f} (ratio {std / torch_default:.2f})")

    width = max(len(r[0]) for r in rows)
    print(f"| {'component'.ljust(width)} | ours vs reference | note |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for what, value, note in rows:
        print(f"| {what.ljust(width)} | {value} | {note} |")

    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(3, 1, figsize=(16, 6.6))
        for ax, (title, views) in zip(axes, (("ours, view 1", a["aug_view0"]),
                                             ("ours, view 2", a["aug_view1"]),
                                             ("torchvision v2 + the same recipe", tv))):
            grid = np.concatenate([np.pad(v, ((1, 1), (1, 1), (0, 0)), constant_values=1)
                                   for v in views[:24]], axis=1)
            ax.imshow(np.clip(grid, 0, 1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        print(f"wrote {png}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="our side (this environment, TensorFlow)")
    d.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="the PyTorch side (an environment with torch, lightly)")
    c.add_argument("path")
    c.add_argument("--png", default="")
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.out)
    else:
        compare(args.path, args.png)


if __name__ == "__main__":
    sys.exit(main())
