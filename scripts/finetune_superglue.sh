#!/usr/bin/env bash
# Finetune on a SuperGLUE/CLUE task without a DeepSpeed JSON (torchrun, one process per GPU):
#   bash scripts/finetune_superglue.sh config_tasks/model_blocklm_large.sh config_tasks/task_rte.sh
# Uses the task's LR_SINGLE, EPOCH_SINGLE and BATCH_SIZE / N_GPU per process, fp16 on GPUs
# (fp32 on CPU).
#
# Environment (all optional): DATA_ROOT (default data), CHECKPOINT_PATH (default checkpoints),
#   SAVE_PATH (default finetune_checkpoints), MP_SIZE (default 1), N_GPU (default: all GPUs, or
#   1 CPU process), EXTRA_ARGS (appended last).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash scripts/finetune_superglue.sh config_tasks/model_<name>.sh config_tasks/task_<name>.sh}
task=${2:?usage: bash scripts/finetune_superglue.sh config_tasks/model_<name>.sh config_tasks/task_<name>.sh}
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
# shellcheck disable=SC2086  # MODEL_ARGS, TRAIN_ARGS and COMMON_ARGS are flag lists by design
torchrun --standalone --nproc-per-node "$N_GPU" finetune_glm.py \
  --finetune --cloze-eval --task "$TASK_NAME" --data-dir "$DATA_PATH" --save "$SAVE_PATH" \
  --seq-length "$MAX_SEQ_LEN" --checkpoint-activations --eval-batch-size 16 --save-epoch 100000 \
  $MODEL_ARGS $TRAIN_ARGS $COMMON_ARGS --model-parallel-size "$MP_SIZE" \
  --lr "$LR_SINGLE" --weight-decay "$WEIGHT_DECAY" --epochs "$EPOCH_SINGLE" \
  --batch-size $(( BATCH_SIZE / N_GPU > 0 ? BATCH_SIZE / N_GPU : 1 )) "${precision[@]}" \
  --overwrite --experiment-name "$EXPERIMENT_NAME" ${EXTRA_ARGS:-} 2>&1 | tee "logs/log-${EXPERIMENT_NAME}.txt"
