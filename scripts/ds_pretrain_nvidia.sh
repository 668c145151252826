#!/usr/bin/env bash
# Pretrain GLM with the DeepSpeed launcher: bash scripts/ds_pretrain_nvidia.sh config/ds_block_large.sh
#
# Environment (all optional):
#   NUM_WORKERS          nodes (default 1)            NUM_GPUS_PER_WORKER  GPUs per node (default: all)
#   HOST_FILE_PATH       DeepSpeed hostfile ("host slots=N" lines), needed when NUM_WORKERS > 1
#   MP_SIZE              tensor-parallel size (default 1)
#   MASTER_PORT          rendezvous port (default: random in 10000-65535)
#   SAVE_PATH, GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME>, LOAD_PATH   read by the config files
#   EXTRA_ARGS           more pretrain_glm.py flags, appended last
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash scripts/ds_pretrain_nvidia.sh config/ds_block_<size>.sh}
[ -f "$config" ] || { echo "config file $config not found" >&2; exit 2; }

NUM_WORKERS=${NUM_WORKERS:-1}
NUM_GPUS_PER_WORKER=${NUM_GPUS_PER_WORKER:-$( (nvidia-smi -L 2>/dev/null || true) | wc -l)}
MP_SIZE=${MP_SIZE:-1}
MASTER_PORT=${MASTER_PORT:-$((10000 + RANDOM % 55536))}
export MP_SIZE
export NCCL_DEBUG=${NCCL_DEBUG:-WARN} NCCL_IB_DISABLE=${NCCL_IB_DISABLE:-0} NCCL_NET_GDR_LEVEL=${NCCL_NET_GDR_LEVEL:-2}

source "$config"
launcher=(deepspeed --master_port "$MASTER_PORT" --num_nodes "$NUM_WORKERS" --num_gpus "$NUM_GPUS_PER_WORKER")
if [ "$NUM_WORKERS" -gt 1 ]; then
  [ -n "${HOST_FILE_PATH:-}" ] || { echo "NUM_WORKERS=$NUM_WORKERS needs HOST_FILE_PATH" >&2; exit 2; }
  launcher+=(--hostfile "$HOST_FILE_PATH")
fi
mkdir -p logs
name=$(basename "$config" .sh)
# shellcheck disable=SC2086  # gpt_options is a flag list by design
"${launcher[@]}" pretrain_glm.py $gpt_options ${EXTRA_ARGS:-} 2>&1 | tee "logs/log-${name}-$(date +%m-%d-%H-%M).txt"
