#!/usr/bin/env bash
# Zero-shot multiple choice with a pretrained model (no training):
#   DATA_PATH='data/copa_multichoice.jsonl' bash scripts/evaluate_multichoice.sh config_tasks/model_blocklm_10B.sh
# DATA_PATH is one or more JSON-lines files or glob patterns (records: inputs_pretokenized,
# choices_pretokenized, label); scripts/convert_copa_multichoice.py makes one from COPA.
#
# Environment (all optional): CHECKPOINT_PATH (default checkpoints), MP_SIZE (default 1),
#   NUM_GPUS_PER_WORKER (default: MP_SIZE GPUs, or CPU processes without GPUs), SEQ_LENGTH
#   (default 512), EXTRA_ARGS (e.g. --unidirectional, --length-penalty 1).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash scripts/evaluate_multichoice.sh config_tasks/model_<name>.sh}
[ -f "$model" ] || { echo "config file $model not found" >&2; exit 2; }
DATA_PATH=${DATA_PATH:?set DATA_PATH to the multichoice .jsonl file(s)}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
MP_SIZE=${MP_SIZE:-1}
NPROC=${NUM_GPUS_PER_WORKER:-$MP_SIZE}
source "$model"
precision=()
nvidia-smi -L >/dev/null 2>&1 && precision=(--fp16)

# shellcheck disable=SC2086  # MODEL_ARGS and DATA_PATH are lists by design
torchrun --standalone --nproc-per-node "$NPROC" finetune_glm.py \
  --task multichoice --test-data $DATA_PATH $MODEL_ARGS --model-parallel-size "$MP_SIZE" \
  --epochs 0 --seq-length "${SEQ_LENGTH:-512}" --eval-batch-size 16 "${precision[@]}" \
  --overwrite --experiment-name "${MODEL_TYPE}-multichoice" ${EXTRA_ARGS:-}
