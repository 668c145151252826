#!/usr/bin/env bash
# Zero-shot language modelling with a pretrained model (no training):
#   bash scripts/evaluate_lm.sh config_tasks/model_blocklm_10B.sh config_tasks/zero_lambada.sh
# Tasks: zero_lambada(_uni).sh (accuracy), zero_wikitext.sh, zero_lm(_uni).sh (avg loss, ppl,
# adjusted ppl), written to runs/<experiment>/test_results.json.
#
# Environment (all optional): DATA_ROOT (default data), CHECKPOINT_PATH (default checkpoints),
#   MP_SIZE (default 1), NUM_GPUS_PER_WORKER (default MP_SIZE processes; GPUs if present,
#   else CPU with gloo), EXTRA_ARGS (appended last, e.g. --legacy-lm-denominator to report
#   perplexity with GLM's denominators).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash scripts/evaluate_lm.sh config_tasks/model_<name>.sh config_tasks/zero_<name>.sh}
task=${2:?usage: bash scripts/evaluate_lm.sh config_tasks/model_<name>.sh config_tasks/zero_<name>.sh}
for f in "$model" "$task"; do [ -f "$f" ] || { echo "config file $f not found" >&2; exit 2; }; done
DATA_ROOT=${DATA_ROOT:-data}
CHECKPOINT_PATH=${CHECKPOINT_PATH:-checkpoints}
MP_SIZE=${MP_SIZE:-1}
NPROC=${NUM_GPUS_PER_WORKER:-$MP_SIZE}
source "$model"
source "$task"
precision=()
nvidia-smi -L >/dev/null 2>&1 && precision=(--fp16)

mkdir -p logs
# shellcheck disable=SC2086  # MODEL_ARGS and EVALUATE_ARGS are flag lists by design
torchrun --standalone --nproc-per-node "$NPROC" finetune_glm.py \
  --finetune --task "$TASK_NAME" --valid-data "$DATA_PATH" $MODEL_ARGS $EVALUATE_ARGS \
  --model-parallel-size "$MP_SIZE" --epochs 0 "${precision[@]}" --overwrite \
  --experiment-name "$EXPERIMENT_NAME" ${EXTRA_ARGS:-} 2>&1 | tee "logs/log-${EXPERIMENT_NAME}.txt"
