#!/usr/bin/env bash
# P-tuning on a SuperGLUE/CLUE task: ds_finetune_superglue.sh with 3 continuous prompt tokens
# (LSTM prompt encoder); the task's pattern id is kept.
#   bash scripts/ds_finetune_superglue_prompt.sh config_tasks/model_blocklm_10B.sh config_tasks/task_rte.sh
# Same environment as scripts/ds_finetune_superglue.sh.
set -euo pipefail
FINETUNE_ARGS="--continuous-prompt --num-prompt-tokens 3 ${FINETUNE_ARGS:-}" \
  exec bash "$(dirname "$0")/ds_finetune_superglue.sh" "$@"
