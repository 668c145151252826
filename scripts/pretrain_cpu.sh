#!/usr/bin/env bash
# Pretrain GLM on CPU (gloo): bash scripts/pretrain_cpu.sh config/ds_block_tiny_cpu.sh
# NPROC (default 1) processes, MP_SIZE (default 1) of them per tensor-parallel group;
# EXTRA_ARGS are appended (e.g. "--bf16", "--train-data my_corpus.jsonl").
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash scripts/pretrain_cpu.sh config/ds_block_<size>.sh}
[ -f "$config" ] || { echo "config file $config not found" >&2; exit 2; }
export MP_SIZE=${MP_SIZE:-1} CUDA_VISIBLE_DEVICES=""
source "$config"
NPROC=${NPROC:-1}
if [ "$NPROC" -eq 1 ]; then
  # shellcheck disable=SC2086  # gpt_options is a flag list by design
  exec python pretrain_glm.py $gpt_options ${EXTRA_ARGS:-}
fi
# shellcheck disable=SC2086
exec torchrun --standalone --nproc-per-node "$NPROC" pretrain_glm.py $gpt_options ${EXTRA_ARGS:-}
