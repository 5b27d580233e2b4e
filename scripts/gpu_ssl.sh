#!/usr/bin/env bash
# Does self-supervised pretraining help? On one GPU: SimCLR-pretrain the shipped architecture on the
# training split's photographs (`python -m ml pretrain`, no labels) for PRETRAIN minutes, then train it
# and an identical model from scratch side by side for TRAIN minutes each, with the shipped recipe.
# Compare the two on validation (history.json); the test split stays for whichever ships.
#
#   scripts/gpu_ssl.sh DATA_ROOT OUT_DIR PRETRAIN_MINUTES TRAIN_MINUTES
#
# DATA_ROOT holds the three sets as exported at 256 px (`python -m ml export`, see gpu_sweep.sh).
# EXTRA / EXTRA_PRETRAIN: more arguments for the training runs / the pretraining (they win).
# To bring results back, pack model.safetensors (fp16, 7 MB) and the JSON files, not best.safetensors
# or backbone.safetensors (fp32, 14 MB each): the device returns files of at most 16 MiB.
set -euo pipefail
data=$1 out=$2 pretrain_min=$3 train_min=$4
PY=${PY:-python3}
sets=("$data/eyepacs-1024" "$data/eyepacs-256-enhanced" "$data/srahim-1024")
export ML_CACHE_DIR=${ML_CACHE_DIR:-/tmp/ml-cache} PYTHONUNBUFFERED=1
kwargs='{"depth":6,"drop_path_rate":0.1,"class_token":false,"global_pool":"avg"}'
read -r -a extra <<<"${EXTRA:-}"
read -r -a extra_pretrain <<<"${EXTRA_PRETRAIN:-}"
version="vit-tiny-r-gap-256-gpu-$(date -u +%Y.%m.%d)"
mkdir -p "$out/ssl" "$out/ssl_finetune" "$out/scratch"

"$PY" -m ml pretrain --data "${sets[@]}" --out "$out/ssl" --arch vit_tiny_r_s16_p8_224 --image-size 256 --model-kwargs "$kwargs" \
  --epochs 1000 --samples-per-epoch 20000 --batch-size 256 --time-budget-min "$pretrain_min" \
  "${extra_pretrain[@]}" >"$out/ssl/pretrain.log" 2>&1
tail -n 3 "$out/ssl/pretrain.log"

common=(--data "${sets[@]}" --arch vit_tiny_r_s16_p8_224 --image-size 256 --model-kwargs "$kwargs"
  --epochs 1000 --patience 1000 --samples-per-epoch 20000 --batch-size 128 --lr 1e-3 --warmup-epochs 2
  --monitor balanced_accuracy_kappa --time-budget-min "$train_min" --seed 0)
"$PY" -m ml train "${common[@]}" --pretrained "$out/ssl/backbone.safetensors" "${extra[@]}" \
  --out "$out/ssl_finetune" --version "$version-ssl" >"$out/ssl_finetune/train.log" 2>&1 &
"$PY" -m ml train "${common[@]}" "${extra[@]}" --out "$out/scratch" --version "$version-scratch" \
  >"$out/scratch/train.log" 2>&1 &
wait
"$PY" "$(dirname "$0")/best_epochs.py" "$out/ssl_finetune" "$out/scratch"
