"""Learning curves of an independent PyTorch + lightly build beside ours, on long schedules.

Two halves (PyTorch is never a dependency of the package):

    # the independent build, in an environment with torch, torchvision and lightly:
    TORCH_PYTHON -m benchmarks.torch_curves train --method=simclr --workdir=RUN \\
        --archive=../shared/data/cifar10/cifar10_jpeg_q75.tar.gz --epochs=100 --stop_after_epochs=15
    # the plot and the table, ours and theirs side by side (this environment):
    python -m benchmarks.torch_curves plot OUR_RUN:label THEIR_RUN:label ... --out DIR
    # a curve kept in an earlier plot's JSON (its run folder gone): FILE.json#LABEL[:new label]
    python -m benchmarks.torch_curves plot \
        "benchmarks/results/long_runs/simclr_recipes.json#SGD (the preset now):ours" RUN:theirs
    # a zoo entry's training curve, from its manifest record: zoo:NAME[:label]

`train` runs SimCLR or BYOL on CIFAR-10 with ResNet-18 (CIFAR stem, written in
`benchmarks/torch_parity.py`, torchvision's initialisation and padding), lightly's heads and
losses, torchvision v2 augmentations per image (bicubic crops, as ours), and the recipe of our
presets: batch 256, the projector sizes, temperature 0.2 (SimCLR), τ 0.996 → 1 (BYOL), the
colour settings 0.4/0.4/0.2/0.1 (p 0.8), grayscale 0.2, solarize 0.2 on BYOL's second view, and
the optimiser given by the flags
(SGD with coupled weight decay as torch's, or lightly's LARS with BatchNorm and biases excluded),
learning rate × batch/256, linear warmup, a cosine per step to 0. BYOL's loss is ours,
Σ over both directions of mean(2 − 2 cos) (4 × lightly's mean negative cosine), so that one
learning rate and weight decay mean the same update on both sides. The kNN monitor is ours:
k = 200, cosine, T = 0.07, the 50,000 train images as memory, the first 5,000 test images as
queries, every `--knn_every_epochs`.

A run checkpoints every epoch (`RUN/checkpoint.pt`, model, optimiser, EMA, step), and every
`--save_every_steps` within one, and resumes from it; `RUN/curve.json` holds the points, the
recipe and the CPU seconds so far.
`--stop_after_epochs` stops a run with the schedule of `--epochs`, as ours does.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MONITOR_QUERIES = 5000  # as training/loop.py's kNN monitor
#: Flags a run may change when it resumes (everything else is the recipe).
RESUMABLE_CHANGES = ("stop_after_epochs", "threads", "decode_workers", "verbose", "knn_every_epochs",
                     "knn_at_start", "save_every_steps")


# ----------------------------------------------------------------------- the PyTorch side
def _augmentations(method, T, torch):
    """Per-image torchvision v2 pipelines of our CIFAR presets: (view 1, view 2)."""
    def pipeline(solarize):
        steps = [
            # Bicubic as ours (CropConfig's default, the BYOL reference's); torchvision's
            # default is bilinear. PyTorch's cubic kernel has a = -0.75, ours (TF's) -0.5.
            T.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True,
                                interpolation=T.InterpolationMode.BICUBIC),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ]
        if solarize:
            steps.append(T.RandomSolarize(threshold=128, p=0.2))
        return T.Compose(steps + [T.ToDtype(torch.float32, scale=True)])

    if method == "simclr":  # cifar10_symmetric: one pipeline for both crops
        return pipeline(False), pipeline(False)
    return pipeline(False), pipeline(True)  # cifar10 views: solarize 0.2 on the second


def _init_like_torchvision(net, nn):
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class _Learner:
    """The backbone and heads of one method, its loss, and the EMA update for BYOL."""

    def __init__(self, method, width, total_steps, torch, nn):
        from lightly.loss import NegativeCosineSimilarity, NTXentLoss
        from lightly.models.modules import heads
        from lightly.models.utils import deactivate_requires_grad

        from benchmarks.torch_parity import _torch_resnet18

        self.method, self.total_steps, self.torch = method, total_steps, torch
        self.backbone = _torch_resnet18(width, nn)(False)  # torchvision padding ("symmetric")
        _init_like_torchvision(self.backbone, nn)
        feature_dim = int(round(512 * width))
        modules = {"backbone": self.backbone}
        if method == "simclr":
            self.projector = heads.SimCLRProjectionHead(feature_dim, 2048, 256, num_layers=2,
                                                        batch_norm=True)
            self.criterion = NTXentLoss(temperature=0.2)
            modules["projector"] = self.projector
        else:
            import copy

            self.projector = heads.BYOLProjectionHead(feature_dim, 4096, 256)
            self.predictor = heads.BYOLPredictionHead(256, 4096, 256)
            self.target_backbone = copy.deepcopy(self.backbone)
            self.target_projector = copy.deepcopy(self.projector)
            deactivate_requires_grad(self.target_backbone)
            deactivate_requires_grad(self.target_projector)
            self.criterion = NegativeCosineSimilarity()
            modules.update(projector=self.projector, predictor=self.predictor,
                           target_backbone=self.target_backbone,
                           target_projector=self.target_projector)
        self.modules = nn.ModuleDict(modules)

    def trainable(self):
        return [p for p in self.modules.parameters() if p.requires_grad]

    def loss(self, view0, view1):
        if self.method == "simclr":
            return self.criterion(self.projector(self.backbone(view0)),
                                  self.projector(self.backbone(view1)))
        p0 = self.predictor(self.projector(self.backbone(view0)))
        p1 = self.predictor(self.projector(self.backbone(view1)))
        with self.torch.no_grad():  # the target in training mode (batch statistics), as ours
            t0 = self.target_projector(self.target_backbone(view0))
            t1 = self.target_projector(self.target_backbone(view1))
        # mean(2 - 2 cos) per direction, summed: objectives.byol_loss
        return (2 + 2 * self.criterion(p0, t1)) + (2 + 2 * self.criterion(p1, t0))

    def after_step(self, step):
        """EMA of the online network after optimiser step `step` (0-based), τ cosine 0.996 -> 1."""
        if self.method != "byol":
            return
        from lightly.models.utils import update_momentum

        progress = min(step / self.total_steps, 1.0)
        tau = 1.0 - (1.0 - 0.996) * (math.cos(math.pi * progress) + 1.0) / 2.0
        update_momentum(self.backbone, self.target_backbone, m=tau)
        update_momentum(self.projector, self.target_projector, m=tau)


def _optimizer(args, learner, torch):
    """SGD (torch's, weight decay on every parameter) or lightly's LARS (BatchNorm parameters
    and biases neither decayed nor adapted, as ours)."""
    if args.optimizer == "sgd":
        return torch.optim.SGD(learner.trainable(), lr=0.0, momentum=args.momentum,
                               weight_decay=args.weight_decay)
    from lightly.utils.lars import LARS

    adapted = [p for p in learner.trainable() if p.ndim > 1]
    excluded = [p for p in learner.trainable() if p.ndim <= 1]
    return LARS([{"params": adapted, "weight_decay": args.weight_decay},
                 {"params": excluded, "weight_decay": 0.0}],
                lr=0.0, momentum=args.momentum, trust_coefficient=args.trust_coefficient)


def learning_rate(step, total_steps, warmup_steps, peak):
    """Linear warmup to `peak`, then a cosine to 0 (optim.WarmupCosine with end 0)."""
    if step < warmup_steps:
        return peak * step / max(warmup_steps, 1)
    progress = min(max((step - warmup_steps) / max(total_steps - warmup_steps, 1), 0.0), 1.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def _features(backbone, images, torch, batch_size=500):
    """L2-normalised features of uint8 `[N, 32, 32, 3]` images, BatchNorm in inference mode."""
    backbone.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255
            out.append(torch.nn.functional.normalize(backbone(x), dim=1))
    backbone.train()
    return torch.cat(out)


def knn_top1(train_features, train_labels, test_features, test_labels, torch, k=200,
             temperature=0.07, num_classes=10):
    """Weighted kNN (cosine, weights exp(sim / T)) as evaluation.knn_evaluate."""
    train_labels = torch.as_tensor(train_labels, dtype=torch.long)
    correct = 0
    for start in range(0, len(test_features), 1000):
        sim = test_features[start:start + 1000] @ train_features.T
        top, index = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), num_classes)
        votes.scatter_add_(1, train_labels[index], (top / temperature).exp())
        predicted = votes.argmax(1).numpy()
        correct += int((predicted == test_labels[start:start + 1000]).sum())
    return correct / len(test_features)


def train(args):
    import torch
    import torchvision.transforms.v2 as T
    from torch import nn

    from sslhsic_tf.data import arrays

    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    (train_images, train_labels), (test_images, test_labels) = arrays.cifar10_archive_arrays(
        args.archive, ("train", "test"), num_workers=args.decode_workers)
    test_images, test_labels = test_images[:MONITOR_QUERIES], test_labels[:MONITOR_QUERIES]
    if args.train_images:  # a smoke run on the first N images
        train_images, train_labels = train_images[:args.train_images], train_labels[:args.train_images]
    steps_per_epoch = len(train_images) // args.batch_size  # whole batches, as ours
    total_steps = int(round(args.epochs * steps_per_epoch))
    stop_step = (int(round(args.stop_after_epochs * steps_per_epoch)) if args.stop_after_epochs
                 else total_steps)
    warmup_steps = int(round(args.warmup_fraction * total_steps))
    peak = args.base_learning_rate * args.batch_size / 256

    torch.manual_seed(args.seed)
    learner = _Learner(args.method, args.width, total_steps, torch, nn)
    optimizer = _optimizer(args, learner, torch)
    view0, view1 = _augmentations(args.method, T, torch)
    recipe = {k: v for k, v in vars(args).items() if k not in ("command", "workdir")}
    state = {"step": 0, "points": [], "losses": [], "cpu_seconds": 0.0, "wall_seconds": 0.0,
             "recipe": recipe, "steps_per_epoch": steps_per_epoch, "total_steps": total_steps}
    checkpoint = os.path.join(args.workdir, "checkpoint.pt")
    if os.path.exists(checkpoint):
        saved = torch.load(checkpoint, weights_only=False)
        learner.modules.load_state_dict(saved["modules"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        changed = sorted(k for k in recipe if k not in RESUMABLE_CHANGES
                         and recipe[k] != state["recipe"].get(k))
        if changed:
            raise SystemExit(f"--workdir {args.workdir} holds a run with another recipe ("
                             + ", ".join(f"{k}: {state['recipe'].get(k)!r} there, {recipe[k]!r} "
                                         "now" for k in changed) + "); use a new --workdir")
        torch.set_rng_state(saved["rng"])
        print(f"resumed at step {state['step']} ({state['step'] / steps_per_epoch:.0f} epochs)")

    def save():
        payload = {"modules": learner.modules.state_dict(), "optimizer": optimizer.state_dict(),
                   "state": state, "rng": torch.get_rng_state()}
        torch.save(payload, checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)
        with open(os.path.join(args.workdir, "curve.json.tmp"), "w") as f:
            json.dump({"method": f"torch+lightly {args.method}", **{k: v for k, v in state.items()}},
                      f, indent=1)
        os.replace(os.path.join(args.workdir, "curve.json.tmp"),
                   os.path.join(args.workdir, "curve.json"))

    if args.knn_at_start and not state["points"] and state["step"] == 0:  # the random init
        top1 = knn_top1(_features(learner.backbone, train_images, torch), train_labels,
                        _features(learner.backbone, test_images, torch), test_labels, torch)
        state["points"].append({"epoch": 0.0, "step": 0, "knn_top1": top1})
        print(f"epoch 0 (initialisation): kNN {100 * top1:.2f}", flush=True)
        save()  # at x1 the point costs about 25 CPU-minutes: a stop before step 49 keeps it
    learner.modules.train()
    marks = [time.process_time(), time.time()]

    def account():  # the CPU and wall seconds since the last call, into the state
        now = [time.process_time(), time.time()]
        state["cpu_seconds"] += now[0] - marks[0]
        state["wall_seconds"] += now[1] - marks[1]
        marks[:] = now

    while state["step"] < stop_step:
        epoch = state["step"] // steps_per_epoch
        order = np.random.default_rng([args.seed, epoch]).permutation(len(train_images))
        losses = state.pop("epoch_losses", [])  # a checkpoint within this epoch left them
        wall0, first = time.time(), state["step"]
        for batch in range(state["step"] % steps_per_epoch, steps_per_epoch):
            index = order[batch * args.batch_size:(batch + 1) * args.batch_size]
            images = torch.from_numpy(train_images[index]).permute(0, 3, 1, 2)
            x0 = torch.stack([view0(img) for img in images])
            x1 = torch.stack([view1(img) for img in images])
            lr = learning_rate(state["step"], total_steps, warmup_steps, peak)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = learner.loss(x0, x1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            learner.after_step(state["step"])
            state["step"] += 1
            losses.append(loss.item())
            if args.verbose and state["step"] % 20 == 0:
                print(f"step {state['step']} loss {np.mean(losses[-20:]):.4f} lr {lr:.4f} "
                      f"{(time.time() - wall0) / (state['step'] - first):.2f} s/step", flush=True)
            if state["step"] >= stop_step:
                break
            if (args.save_every_steps and state["step"] % args.save_every_steps == 0
                    and state["step"] % steps_per_epoch):
                state["epoch_losses"] = losses
                account()
                save()
                del state["epoch_losses"]
        done_epochs = state["step"] / steps_per_epoch
        state["losses"].append({"epoch": done_epochs, "loss": float(np.mean(losses))})
        if round(done_epochs) % args.knn_every_epochs == 0 or state["step"] >= stop_step:
            top1 = knn_top1(_features(learner.backbone, train_images, torch), train_labels,
                            _features(learner.backbone, test_images, torch), test_labels, torch)
            state["points"].append({"epoch": done_epochs, "step": state["step"], "knn_top1": top1})
            print(f"epoch {done_epochs:g}: kNN {100 * top1:.2f}", flush=True)
        account()
        save()
    print(json.dumps(state["points"]))


# -------------------------------------------------------------------------- the plot half
def _saved_curve(path):
    """The entry of an earlier plot's JSON that `FILE.json#LABEL` names (a run's curve kept
    after its workdir is gone), or None when `path` is a run folder."""
    file, hash_mark, wanted = path.partition("#")
    if not (hash_mark and file.endswith(".json")):
        return None
    with open(file) as f:
        saved = json.load(f)
    for entry in saved:
        if entry["label"] == wanted:
            return entry
    raise ValueError(f"run {path!r}: {file} has no curve labelled {wanted!r}; its labels: "
                     f"{[entry['label'] for entry in saved]} (use FILE.json#LABEL)")


def _zoo_curve(path):
    """A zoo entry's training curve (`zoo:NAME`) in the form of an earlier plot's entry: its
    kNN monitor, its final kNN (k = 200) on the test split, CPU-hours, optimiser and length;
    None when `path` names no zoo entry."""
    if not path.startswith("zoo:"):
        return None
    from sslhsic_tf import zoo

    info = zoo.info(path[len("zoo:"):])
    training = info["training"]
    if not training.get("knn_curve"):
        raise ValueError(f"run {path!r}: the zoo entry records no kNN curve (a run exported "
                         "with its monitor has one)")
    finals = [f["value"] for f in info["evaluation"] if f["metric"] == "top1"
              and f["protocol"].startswith("kNN") and "k=200" in f["protocol"]]
    return {"label": path[len("zoo:"):],
            "points": [(p["epoch"], p["knn_top1"]) for p in training["knn_curve"]["points"]],
            "final": (training["epochs"], finals[0]) if finals else None,
            "cpu_seconds": 3600 * training["cpu_hours"] if "cpu_hours" in training else None,
            "recipe": training.get("optimizer"), "schedule_epochs": float(training["epochs"])}


def _split(run):
    """RUN[:label] -> (RUN, label); a zoo entry's RUN is `zoo:NAME`."""
    prefix = "zoo:" if run.startswith("zoo:") else ""
    path, _, label = run[len(prefix):].partition(":")
    return prefix + path, label


def read_curve(run):
    """(label, [(epoch, knn)], cpu seconds, recipe, final) of a torch run (curve.json), of
    ours, of an earlier plot's JSON (`FILE.json#LABEL`) or of a zoo entry (`zoo:NAME`); final:
    (epoch, kNN on the whole test split) of a finished run of ours, else None."""
    path, label = _split(run)
    entry = _saved_curve(path) or _zoo_curve(path)
    if entry is not None:
        final = tuple(entry["final"]) if entry["final"] else None
        return (label or entry["label"], [tuple(p) for p in entry["points"]],
                entry["cpu_seconds"], entry["recipe"], final)
    curve = os.path.join(path, "curve.json")
    if os.path.exists(curve):
        with open(curve) as f:
            saved = json.load(f)
        points = [(p["epoch"], p["knn_top1"]) for p in saved["points"]]
        return label or saved["method"], points, saved["cpu_seconds"], saved["recipe"], None
    from benchmarks import zoo_curves

    ours = zoo_curves.read_run(path)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)["config"]
    final = None
    if ours["final_knn"] is not None:
        with open(os.path.join(path, "results.json")) as f:
            final = (json.load(f)["trained_epochs"], ours["final_knn"])
    return label or ours["name"], ours["points"], ours["cpu_seconds"], config["optimizer"], final


def schedule_epochs(run):
    """The length in epochs of a run's schedule (theirs: --epochs; ours: config.epochs; an
    earlier plot's entry: what it saved), or None."""
    path = _split(run)[0]
    entry = _saved_curve(path) or _zoo_curve(path)
    if entry is not None:
        return entry.get("schedule_epochs")
    curve = os.path.join(path, "curve.json")
    name, key = (curve, "recipe") if os.path.exists(curve) else (os.path.join(path, "config.json"),
                                                                  "config")
    with open(name) as f:
        epochs = json.load(f)[key].get("epochs")
    return None if epochs is None else float(epochs)


def plot(args):
    curves = [read_curve(run) for run in args.runs]
    schedules = [schedule_epochs(run) for run in args.runs]

    def column(epoch):  # runs count an epoch as 195.3 or 196 steps: the nearest half epoch
        return round(epoch * 2) / 2

    epochs = sorted({column(e) for _, points, _, _, _ in curves for e, _ in points})
    print("| run | " + " | ".join(f"epoch {e:g}" for e in epochs)
          + " | end (all test images) | CPU-h |")
    print("|---|" + "---|" * (len(epochs) + 2))
    for label, points, cpu, _, final in curves:
        by_epoch = {column(e): k for e, k in points}
        cells = [f"{100 * by_epoch[e]:.1f}" if e in by_epoch else "" for e in epochs]
        end = f"{100 * final[1]:.1f} (epoch {final[0]:.0f})" if final else ""
        print(f"| {label} | " + " | ".join(cells) + f" | {end} | {(cpu or 0) / 3600:.1f} |")
    if not args.out:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    for label, points, _, _, final in curves:
        if points:
            line, = axis.plot(*zip(*[(e, 100 * k) for e, k in points]), "o-", label=label)
            if final:
                axis.plot(final[0], 100 * final[1], "*", ms=12, color=line.get_color())
    known = {schedule for schedule in schedules if schedule is not None}
    length = known.pop() if len(known) == 1 else None
    axis.set_xlabel(f"epoch (of the {length:g}-epoch schedule)" if length else "epoch")
    axis.set_ylabel("kNN top-1 (%), k = 200")
    axis.set_title(f"{args.title}\n(lines: first 5,000 test images; stars: all 10,000 at the end)",
                   fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    png = os.path.join(args.out, f"{args.name}.png")
    figure.savefig(png, dpi=110)
    with open(os.path.join(args.out, f"{args.name}.json"), "w") as f:
        json.dump([{"label": label, "points": points, "final": final, "cpu_seconds": cpu,
                    "recipe": recipe, "schedule_epochs": schedule}
                   for (label, points, cpu, recipe, final), schedule in zip(curves, schedules)],
                  f, indent=1, default=str)
    print(f"wrote {png} and {args.name}.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="the independent build (an environment with torch, lightly)")
    t.add_argument("--method", choices=("simclr", "byol"), required=True)
    t.add_argument("--workdir", required=True)
    t.add_argument("--archive", required=True, help="the CIFAR-10 JPEG archive")
    t.add_argument("--width", type=float, default=0.25)
    t.add_argument("--batch_size", type=int, default=256)
    t.add_argument("--epochs", type=float, default=100.0, help="the schedule's length")
    t.add_argument("--stop_after_epochs", type=float, default=0.0)
    t.add_argument("--knn_every_epochs", type=int, default=2)
    t.add_argument("--optimizer", choices=("sgd", "lars"), default="sgd")
    t.add_argument("--base_learning_rate", type=float, default=0.12, help="x batch/256")
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight_decay", type=float, default=5e-4)
    t.add_argument("--trust_coefficient", type=float, default=0.02, help="LARS only")
    t.add_argument("--warmup_fraction", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--decode_workers", type=int, default=0)
    t.add_argument("--train_images", type=int, default=0, help="the first N only (a smoke run)")
    t.add_argument("--knn_at_start", action="store_true", help="a point for the initialisation")
    t.add_argument("--save_every_steps", type=int, default=0,
                   help="also checkpoint every N steps within an epoch (0: at each epoch's end)")
    t.add_argument("--verbose", action="store_true")
    p = sub.add_parser("plot", help="curves of our runs and torch runs side by side")
    p.add_argument("runs", nargs="+", help="RUN or RUN:label (ours: a --workdir; theirs: train's; "
                   "an earlier plot's curve: FILE.json#LABEL; a zoo entry's: zoo:NAME)")
    p.add_argument("--out", default="")
    p.add_argument("--name", default="curves")
    p.add_argument("--title", default="kNN monitor, ResNet-18 x0.25, CIFAR-10")
    args = parser.parse_args(argv)
    if args.command == "train":
        for name in ("epochs", "base_learning_rate"):
            if getattr(args, name) <= 0:
                parser.error(f"--{name} must be > 0; got {getattr(args, name)}")
        if args.stop_after_epochs < 0 or args.knn_every_epochs < 1:
            parser.error("--stop_after_epochs must be >= 0 and --knn_every_epochs >= 1")
        if args.save_every_steps < 0:
            parser.error(f"--save_every_steps must be >= 0 (0: at each epoch's end); "
                         f"got {args.save_every_steps}")
        train(args)
    else:
        plot(args)


if __name__ == "__main__":
    sys.exit(main())
