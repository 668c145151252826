#!/usr/bin/env bash
# Text infilling (blank task) finetuning, then greedy filling of the test blanks:
#   MASK_RATIO=0.1 bash scripts/finetune_blank.sh config_tasks/model_blocklm_large.sh config_tasks/seq_blank.sh
# The filled texts go to runs/<experiment>/test.jsonl.hyps (originals in .refs).
#
# Environment (all optional): MASK_RATIO (default 0.1: train/valid words masked, and the
#   test file blank/test.maskratio<MASK_RATIO>.blank), DATA_ROOT (default data),
#   CHECKPOINT_PATH (default checkpoints), SAVE_PATH (default finetune_checkpoints),
#   MP_SIZE (default 1), N_GPU (default 4 with GPUs, else 1 CPU process), EXTRA_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/finetune_blank.sh config_tasks/model_<name>.sh [config_tasks/seq_blank.sh]"
model=${1:?$usage}
task=${2:-config_tasks/seq_blank.sh}
for f in "$model" "$task"; do [ -f "$f" ] || { echo "config file $f not found" >&2; exit 2; }; done

export MASK_RATIO=${MASK_RATIO:-0.1}
DATA_ROOT=${DATA_ROOT:-data}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
SAVE_PATH=${SAVE_PATH:-finetune_checkpoints}
MP_SIZE=${MP_SIZE:-1}
gpus=$( (nvidia-smi -L 2>/dev/null || true) | wc -l)
N_GPU=${N_GPU:-$(( gpus > 0 ? (gpus < 4 ? gpus : 4) : 1 ))}

source "$model"
source "$task"
EXPERIMENT_NAME=${EXPERIMENT_NAME}_$(date +%m-%d-%H-%M)
precision=()
[ "$gpus" -gt 0 ] && precision=(--fp16)

mkdir -p logs
# shellcheck disable=SC2086  # the *_ARGS variables are flag lists by design
torchrun --standalone --nproc-per-node "$N_GPU" finetune_glm.py \
  --finetune --task "$TASK_NAME" --data-dir "$DATA_PATH" --save "$SAVE_PATH" \
  --checkpoint-activations --num-workers 1 $MODEL_ARGS $TRAIN_ARGS $COMMON_ARGS $TASK_ARGS \
  --model-parallel-size "$MP_SIZE" "${precision[@]}" --overwrite \
  --experiment-name "$EXPERIMENT_NAME" ${EXTRA_ARGS:-} 2>&1 | tee "logs/log-${EXPERIMENT_NAME}.txt"
