#!/usr/bin/env bash
# Finetune on a seq2seq task without a DeepSpeed JSON (torchrun, one process per GPU):
#   bash scripts/finetune_seq2seq.sh config_tasks/model_blocklm_large.sh config_tasks/seq_gigaword.sh
# The task file's lr, epochs and batch size apply; fp16 on GPUs, fp32 on CPU.
#
# Environment (all optional): DATA_ROOT (default data), CHECKPOINT_PATH (default checkpoints),
#   SAVE_PATH (default finetune_checkpoints), MP_SIZE (default 1), N_GPU (default: all GPUs, or
#   1 CPU process), EXTRA_ARGS (appended last).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/finetune_seq2seq.sh config_tasks/model_<name>.sh config_tasks/seq_<name>.sh"
model=${1:?$usage}
task=${2:?$usage}
for f in "$model" "$task"; do [ -f "$f" ] || { echo "config file $f not found" >&2; exit 2; }; done

DATA_ROOT=${DATA_ROOT:-data}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
SAVE_PATH=${SAVE_PATH:-finetune_checkpoints}
MP_SIZE=${MP_SIZE:-1}
gpus=$( (nvidia-smi -L 2>/dev/null || true) | wc -l)
N_GPU=${N_GPU:-$(( gpus > 0 ? gpus : 1 ))}

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
