#!/usr/bin/env bash
# The runs of docs/long_runs.md, in two lanes of one process each (a 2-core CPU runs both).
#
#   benchmarks/long_runs.sh LANE RUNS ARCHIVE [TORCH_PYTHON]
#
# LANE: a (the candidate recipes, width with an EMA target, BYOL's parity at length, a whole
# 40-epoch run of the SGD recipe) or b (today's presets, the EMA-target methods on the candidate
# recipe, SimCLR's parity at length, SSL-HSIC with a target on LARS, a whole 40-epoch DISSL run).
# RUNS: a folder outside git (one --workdir per run).
# ARCHIVE: the CIFAR-10 JPEG archive. TORCH_PYTHON: a Python with torch, torchvision, lightly
# (both lanes; `python -m venv V && V/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly`).
# Every run resumes from its checkpoint, and a finished one (results.json, or a torch run that
# reached its stop) is skipped, so rerunning a lane after any stop goes on where it was:
#
#   nohup nice -n 19 benchmarks/long_runs.sh a ../runs/r31 ARCHIVE ../torchenv/bin/python &
#   nohup nice -n 19 benchmarks/long_runs.sh b ../runs/r31 ARCHIVE ../torchenv/bin/python &
#
# The recipes: the 100-epoch schedule stopped after 15 epochs (--config.stop_after_epochs),
# ResNet-18 x0.25, batch 256, seed 0, kNN (k = 200, first 5,000 test images) every 2 epochs.
# SGD: momentum 0.9, weight decay coupled as torch's, cosine without warmup, lr 0.12 x c and
# weight decay 5e-4 / c, c = how much smaller the method's gradient is than SimCLR's at
# initialisation (benchmarks/gradient_scale.py: 1, 7.5 for SSL-HSIC without a target, 25 with
# one, 4 for BYOL): the update of SimCLR's recipe on the loss times c.
set -euo pipefail
if [ -z "${LONG_RUNS_REPO:-}" ]; then  # run a copy: editing this file must not change a lane
  LONG_RUNS_REPO=$(cd "$(dirname "$(realpath "$0")")/.." && pwd); export LONG_RUNS_REPO
  copy=$(mktemp /tmp/long_runs.XXXXXX.sh); cp "$0" "$copy"
  exec bash "$copy" "$@"
fi
lane=${1:?LANE (a or b)}; runs=$(realpath -m "${2:?RUNS folder}"); archive=$(realpath "${3:?ARCHIVE}")
# -s: a venv's python is a link to the base interpreter; resolved, it would lose the venv.
torch_python=${4:+$(realpath -s "$4")}
cd "$LONG_RUNS_REPO"
mkdir -p "$runs"

common="--config.data.dataset=cifar10_archive:$archive --config.epochs=100
 --config.stop_after_epochs=15 --config.model.depth=18 --config.model.width_multiplier=0.25
 --config.checkpoint_every_steps=196 --config.eval.knn_every_steps=392 --config.eval.protocols=knn
 --config.eval.baseline_random=False --config.export.saved_model=False --verbose=2"
sgd() { echo "--config.optimizer.name=sgd --config.optimizer.base_learning_rate=$1
 --config.optimizer.weight_decay=$2 --config.optimizer.warmup_fraction=0.0
 --config.optimizer.momentum=0.9"; }
# Today's LARS settings of the CIFAR presets, given explicitly: the baselines resume with them
# after a preset's default changes.
lars="--config.optimizer.name=lars --config.optimizer.base_learning_rate=1.0
 --config.optimizer.trust_coefficient=0.02 --config.optimizer.weight_decay=1e-5
 --config.optimizer.momentum=0.9 --config.optimizer.warmup_fraction=0.01"
# LONG_RUNS_THREADS=N: TensorFlow's intra-op threads for each of our runs (default 1: two lanes
# share two cores; on the float32 Xeon of 2026-12-07 two threads gave one run alone no faster
# epoch). LONG_RUNS_ONLY="NAME ...": this process takes only these runs of the lane (a third
# process on runs that its lane has not reached; never a run that another process is training).
wanted() { [ -z "${LONG_RUNS_ONLY:-}" ] || [[ " $LONG_RUNS_ONLY " == *" $1 "* ]]; }
ours() {  # NAME PRESET FLAGS...: one of our runs, skipped once finished
  local name=$1 preset=$2; shift 2
  wanted "$name" || return 0
  [ -f "$runs/$name/results.json" ] && return 0
  TF_NUM_INTRAOP_THREADS=${LONG_RUNS_THREADS:-1} python -m sslhsic_tf.pretrain --config="configs/$preset.py" \
    --workdir="$runs/$name" "$@" > "$runs/$name.log" 2>&1 || echo "$name failed: $runs/$name.log"
}
theirs() {  # NAME FLAGS...: the PyTorch + lightly build (benchmarks/torch_curves.py)
  local name=$1; shift
  wanted "$name" || return 0
  [ -n "$torch_python" ] || { echo "$name skipped: no TORCH_PYTHON"; return 0; }
  "$torch_python" -m benchmarks.torch_curves train --workdir="$runs/$name" --archive="$archive" \
    "$@" > "$runs/$name.log" 2>&1 || echo "$name failed: $runs/$name.log"
}
# A checkpoint every third of the epoch: a 1-epoch run at x0.5 takes over an hour with a target,
# and a stop before its first checkpoint would restart it from step 0. 65 divides the epoch's
# 195 steps (a run rounds its steps up to whole intervals: 49 would train 196).
width="--config.epochs=1 --config.model.depth=18
 --config.data.dataset=cifar10_archive:$archive --config.checkpoint_every_steps=65
 --config.eval.knn_every_steps=196 --config.eval.knn_at_start=True --config.eval.protocols=knn
 --config.eval.baseline_random=False
 --config.export.saved_model=False --verbose=2"
long="--epochs=100 --stop_after_epochs=15 --knn_every_epochs=2 --save_every_steps=98"

case "$lane" in
  a)
    # shellcheck disable=SC2046,SC2086
    ours simclr_sgd cifar10_simclr $(sgd 0.12 5e-4) $common
    ours nt_sgd cifar10_ssl_hsic_no_target $(sgd 0.9 6.7e-5) --config.method_kwargs.log_norms=True $common
    # Width with an EMA target: the preset's LARS, a whole 1-epoch schedule, ResNet-18 x0.25 and
    # x0.5 and x1, each beside its own initial weights (knn_at_start: the same queries, as theirs
    # do; a separate random encoder would cost a forward pass of 60,000 images more), ours and
    # theirs. x1 costs about 16 times x0.25: an hour or more a run on an AVX-512 core.
    for w in 0.25 0.5 1; do
      ours "byol_x${w}_1ep" cifar10_byol $lars $width --config.model.width_multiplier=$w
      ours "ssl_hsic_x${w}_1ep" cifar10_ssl_hsic $lars $width --config.model.width_multiplier=$w
      theirs "torch_byol_x${w}_1ep" --method=byol --width=$w --epochs=1 --knn_every_epochs=1 \
        --knn_at_start --optimizer=lars --base_learning_rate=1.0 --weight_decay=1e-5 \
        --trust_coefficient=0.02 --warmup_fraction=0.01 --save_every_steps=49
    done
    theirs torch_byol_sgd --method=byol $long --optimizer=sgd --base_learning_rate=0.48 --weight_decay=1.25e-4
    # The recipe confirmed by a whole shorter run, and zoo v2's candidate for its best entry:
    # the SGD preset of SSL-HSIC without a target, a whole 40-epoch schedule, evaluated and
    # exported as a zoo run is (kNN and linear, SavedModel).
    # shellcheck disable=SC2086
    ours nt_sgd_40ep cifar10_ssl_hsic_no_target --config.data.dataset=cifar10_archive:$archive \
      --config.epochs=40 --config.model.depth=18 --config.model.width_multiplier=0.25 \
      --config.checkpoint_every_steps=196 --config.eval.knn_every_steps=392 \
      --config.method_kwargs.log_norms=True --verbose=2
    # The same with BatchNorm parameters and biases out of the weight decay: lightly's recipe
    # decays every weight, which shrank nt_sgd_40ep's BatchNorm scales to 0.22 and cost its
    # fine-tuning on 1% of the labels 9 points (docs/zoo.md); zoo v2's candidate replacement.
    # shellcheck disable=SC2086
    ours nt_sgd_40ep_bn_undecayed cifar10_ssl_hsic_no_target \
      --config.data.dataset=cifar10_archive:$archive --config.optimizer.exclude_norm_and_bias=True \
      --config.epochs=40 --config.model.depth=18 --config.model.width_multiplier=0.25 \
      --config.checkpoint_every_steps=196 --config.eval.knn_every_steps=392 \
      --config.method_kwargs.log_norms=True --verbose=2
    ;;
  b)
    # shellcheck disable=SC2086
    ours simclr_base cifar10_simclr $lars $common
    ours nt_base cifar10_ssl_hsic_no_target $lars --config.method_kwargs.log_norms=True $common
    # shellcheck disable=SC2046,SC2086
    ours ssl_hsic_sgd cifar10_ssl_hsic $(sgd 3.0 2e-5) --config.method_kwargs.log_norms=True $common
    ours byol_sgd cifar10_byol $(sgd 0.48 1.25e-4) --config.method_kwargs.log_norms=True $common
    theirs torch_simclr_sgd --method=simclr $long --optimizer=sgd --base_learning_rate=0.12 --weight_decay=5e-4
    # SimCLR's parity at length, a second seed of ours (the preset's precision, bf16 on an
    # AVX-512 CPU; every weight decayed, as seed 0 and lightly): how far two of our runs part,
    # against the one gap over 1.5 (epoch 12).
    # shellcheck disable=SC2046,SC2086
    ours simclr_sgd_seed1 cifar10_simclr $(sgd 0.12 5e-4) $common --config.seed=1 \
      --config.optimizer.exclude_norm_and_bias=False
    # The first swap for SimCLR's gap at length: lightly's head initialisation (PyTorch's
    # nn.Linear default, kernels U(+-1/sqrt(fan_in)), variance a third of ours), seed 1 beside
    # simclr_sgd_seed1, and seed 0 beside simclr_sgd (first stopped at epoch 12, then carried on to 15).
    # shellcheck disable=SC2046,SC2086
    ours simclr_sgd_seed1_torch_head cifar10_simclr $(sgd 0.12 5e-4) $common --config.seed=1 \
      --config.optimizer.exclude_norm_and_bias=False --config.method_kwargs.projector_init=torch
    # shellcheck disable=SC2046,SC2086
    ours simclr_sgd_torch_head cifar10_simclr $(sgd 0.12 5e-4) $common \
      --config.optimizer.exclude_norm_and_bias=False --config.method_kwargs.projector_init=torch
    # Theirs' second seed: how far two PyTorch + lightly runs part, against the point that
    # remains between the builds from epoch 8 with the heads initialised alike.
    theirs torch_simclr_sgd_seed1 --method=simclr $long --optimizer=sgd --base_learning_rate=0.12 \
      --weight_decay=5e-4 --seed=1
    # SSL-HSIC with a target on the LARS preset: against ssl_hsic_sgd, whether the SGD rule wins
    # with a target too (the GPU presets train this method with LARS).
    # shellcheck disable=SC2086
    ours ssl_hsic_base cifar10_ssl_hsic $lars --config.method_kwargs.log_norms=True $common
    # Zoo v2's DISSL entry (issue 32): the preset (Adam 1e-3, weight decay 1e-6, 10/300 warmup,
    # clipping 2, the `issl_cifar10` views; given explicitly), a whole 40-epoch schedule,
    # evaluated and exported as a zoo run is. The preset's settings before (2e-3, the CIFAR pair
    # of views) stalled near 32-37% kNN: `dissl_40ep` (2e-3, stopped at epoch 4) and
    # `dissl_40ep_lr1e-3` (stopped at epoch 14); docs/zoo_cpu_runs.md.
    # shellcheck disable=SC2086
    ours dissl_40ep_issl_views cifar10_dissl --config.data.dataset=cifar10_archive:$archive \
      --config.epochs=40 --config.model.depth=18 --config.model.width_multiplier=0.25 \
      --config.checkpoint_every_steps=196 --config.eval.knn_every_steps=392 \
      --config.optimizer.base_learning_rate=1e-3 --config.data.views=issl_cifar10 \
      --config.method_kwargs.log_norms=True --verbose=2
    # Zoo v2's SSL-HSIC entry with a target (issue 32): `ssl_hsic_base` carried on to the end of
    # its 100-epoch schedule, evaluated and exported as a zoo run is (the LARS preset: level with
    # the SGD rule at epoch 15, and it leaves BatchNorm undecayed). Its folder starts as a copy of
    # ssl_hsic_base's at epoch 15, without results.json, where that run exists (the same
    # training; without it, this run starts from scratch):
    #   cp -r RUNS/ssl_hsic_base RUNS/ssl_hsic_100ep && rm RUNS/ssl_hsic_100ep/results.json
    # shellcheck disable=SC2086
    ours ssl_hsic_100ep cifar10_ssl_hsic $lars --config.method_kwargs.log_norms=True \
      --config.data.dataset=cifar10_archive:$archive --config.epochs=100 --config.model.depth=18 \
      --config.model.width_multiplier=0.25 --config.checkpoint_every_steps=196 \
      --config.eval.knn_every_steps=392 --verbose=2
    ;;
  *) echo "LANE must be a or b; got $lane" >&2; exit 2 ;;
esac
echo "lane $lane: done"
