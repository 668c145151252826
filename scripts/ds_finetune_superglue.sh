#!/usr/bin/env bash
# Finetune on a SuperGLUE/CLUE task:
#   bash scripts/ds_finetune_superglue.sh config_tasks/model_blocklm_10B.sh config_tasks/task_copa.sh
#
# With GPUs: the DeepSpeed launcher, the task's DS_CONFIG (default
# config_tasks/config_blocklm_10B.json: micro-batch, accumulation, lr and ZeRO come from it),
# fp16 and XXLARGE_EPOCH epochs. Without GPUs: NPROC CPU processes (gloo), fp32, the JSON left
# out, batch CPU_BATCH_SIZE.
#
# Environment (all optional):
#   DATA_ROOT            folder holding the task folders (default: data)
#   CHECKPOINT_PATH      folder holding the pretrained checkpoint folders (default: checkpoints)
#   SAVE_PATH            finetuned checkpoints (default: finetune_checkpoints)
#   MP_SIZE              tensor-parallel size, must match the checkpoint (default 1)
#   NUM_GPUS_PER_WORKER  GPUs to use (default: all)       MASTER_PORT  (default: random)
#   NPROC, CPU_BATCH_SIZE  CPU processes (default MP_SIZE) and per-process batch (default 4)
#   EXTRA_ARGS           more finetune_glm.py flags, appended last (e.g. --few-superglue)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash scripts/ds_finetune_superglue.sh config_tasks/model_<name>.sh config_tasks/task_<name>.sh}
task=${2:?usage: bash scripts/ds_finetune_superglue.sh config_tasks/model_<name>.sh config_tasks/task_<name>.sh}
for f in "$model" "$task"; do [ -f "$f" ] || { echo "config file $f not found" >&2; exit 2; }; done

DATA_ROOT=${DATA_ROOT:-data}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
SAVE_PATH=${SAVE_PATH:-finetune_checkpoints}
MP_SIZE=${MP_SIZE:-1}
NUM_GPUS_PER_WORKER=${NUM_GPUS_PER_WORKER:-$( (nvidia-smi -L 2>/dev/null || true) | wc -l)}
MASTER_PORT=${MASTER_PORT:-$((10000 + RANDOM % 55536))}
export NCCL_DEBUG=${NCCL_DEBUG:-WARN} NCCL_IB_DISABLE=${NCCL_IB_DISABLE:-0} NCCL_NET_GDR_LEVEL=${NCCL_NET_GDR_LEVEL:-2}

source "$model"
source "$task"
DS_CONFIG=${DS_CONFIG:-config_tasks/config_blocklm_10B.json}
EXPERIMENT_NAME=${EXPERIMENT_NAME}_$(date +%m-%d-%H-%M)

# shellcheck disable=SC2206  # MODEL_ARGS, TRAIN_ARGS and COMMON_ARGS are flag lists by design
args=(--finetune --cloze-eval --task "$TASK_NAME" --data-dir "$DATA_PATH" --save "$SAVE_PATH"
      --seq-length "$MAX_SEQ_LEN" --checkpoint-activations --eval-batch-size 16
      --save-epoch 100000 --num-workers 1 --no-load-optim --no-load-lr-scheduler
      $MODEL_ARGS $TRAIN_ARGS $COMMON_ARGS --model-parallel-size "$MP_SIZE"
      --epochs "$XXLARGE_EPOCH" --overwrite --experiment-name "$EXPERIMENT_NAME"
      ${FINETUNE_ARGS:-} ${EXTRA_ARGS:-})

mkdir -p logs
log="logs/log-${EXPERIMENT_NAME}.txt"
if [ "$NUM_GPUS_PER_WORKER" -gt 0 ]; then
  deepspeed --master_port "$MASTER_PORT" --num_gpus "$NUM_GPUS_PER_WORKER" finetune_glm.py \
    --deepspeed --deepspeed_config "$DS_CONFIG" --fp16 "${args[@]}" 2>&1 | tee "$log"
else
  NPROC=${NPROC:-$MP_SIZE}
  cpu=(--batch-size "${CPU_BATCH_SIZE:-4}" --weight-decay "$WEIGHT_DECAY" --lr "$LR_SINGLE")
  if [ "$NPROC" -eq 1 ]; then
    python finetune_glm.py "${args[@]}" "${cpu[@]}" 2>&1 | tee "$log"
  else
    torchrun --standalone --nproc-per-node "$NPROC" finetune_glm.py "${args[@]}" "${cpu[@]}" \
      2>&1 | tee "$log"
  fi
fi
