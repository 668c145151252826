#!/usr/bin/env bash
# Finetune on a seq2seq task and decode its test set:
#   bash scripts/ds_finetune_seq2seq.sh config_tasks/model_blocklm_10B.sh config_tasks/seq_cnndm_org.sh
# Outputs: runs/<experiment>/{dev,test}.jsonl.hyps/.refs, results.json (best dev epoch),
# test_results.json; then `bash scripts/evaluate_seq2seq.sh HYPS REFS` for file-level ROUGE.
#
# With GPUs: the DeepSpeed launcher with DS_CONFIG (default
# config_tasks/config_blocklm_10B_cnndm.json: micro-batch, accumulation, lr and ZeRO come from
# it) and fp16, over NUM_WORKERS nodes listed in HOST_FILE_PATH. Without GPUs: NPROC CPU
# processes (gloo), fp32, the JSON left out, batch CPU_BATCH_SIZE.
#
# Environment (all optional):
#   DATA_ROOT (default data)  CHECKPOINT_PATH (default checkpoints)  SAVE_PATH (default
#   finetune_checkpoints)  MP_SIZE (default 1)  NUM_WORKERS (default 1)  NUM_GPUS_PER_WORKER
#   (default: all)  HOST_FILE_PATH (multi-node hostfile)  MASTER_PORT (default: random)
#   NPROC, CPU_BATCH_SIZE (CPU runs)  EXTRA_ARGS (appended last, e.g. --legacy-source-padding)
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/ds_finetune_seq2seq.sh config_tasks/model_<name>.sh config_tasks/seq_<name>.sh"
model=${1:?$usage}
task=${2:?$usage}
for f in "$model" "$task"; do [ -f "$f" ] || { echo "config file $f not found" >&2; exit 2; }; done

DATA_ROOT=${DATA_ROOT:-data}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
SAVE_PATH=${SAVE_PATH:-finetune_checkpoints}
MP_SIZE=${MP_SIZE:-1}
NUM_WORKERS=${NUM_WORKERS:-1}
NUM_GPUS_PER_WORKER=${NUM_GPUS_PER_WORKER:-$( (nvidia-smi -L 2>/dev/null || true) | wc -l)}
MASTER_PORT=${MASTER_PORT:-$((10000 + RANDOM % 55536))}
export NCCL_DEBUG=${NCCL_DEBUG:-WARN} NCCL_IB_DISABLE=${NCCL_IB_DISABLE:-0} NCCL_NET_GDR_LEVEL=${NCCL_NET_GDR_LEVEL:-2}

source "$model"
source "$task"
DS_CONFIG=${DS_CONFIG:-config_tasks/config_blocklm_10B_cnndm.json}
EXPERIMENT_NAME=${EXPERIMENT_NAME}_$(date +%m-%d-%H-%M)

# shellcheck disable=SC2206  # the *_ARGS variables are flag lists by design
args=(--finetune --task "$TASK_NAME" --data-dir "$DATA_PATH" --save "$SAVE_PATH"
      --checkpoint-activations --num-workers 1 --no-load-lr-scheduler
      $MODEL_ARGS $TRAIN_ARGS $COMMON_ARGS $TASK_ARGS --model-parallel-size "$MP_SIZE"
      --overwrite --experiment-name "$EXPERIMENT_NAME" ${EXTRA_ARGS:-})

mkdir -p logs
log="logs/log-${EXPERIMENT_NAME}.txt"
if [ "$NUM_GPUS_PER_WORKER" -gt 0 ]; then
  hosts=()
  [ -n "${HOST_FILE_PATH:-}" ] && hosts=(--hostfile "$HOST_FILE_PATH" --num_nodes "$NUM_WORKERS")
  deepspeed --master_port "$MASTER_PORT" "${hosts[@]}" --num_gpus "$NUM_GPUS_PER_WORKER" \
    finetune_glm.py --deepspeed --deepspeed_config "$DS_CONFIG" --fp16 "${args[@]}" 2>&1 | tee "$log"
else
  NPROC=${NPROC:-$MP_SIZE}
  torchrun --standalone --nproc-per-node "$NPROC" finetune_glm.py "${args[@]}" \
    --batch-size "${CPU_BATCH_SIZE:-4}" 2>&1 | tee "$log"
fi
