#!/usr/bin/env bash
# Pretrain GLM with torchrun: bash scripts/torchrun_pretrain.sh config/ds_block_large.sh
# Environment: NNODES (1), NPROC_PER_NODE (all GPUs, or 1 on CPU), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1), MASTER_PORT (random), MP_SIZE (1), EXTRA_ARGS; config paths as in
# scripts/ds_pretrain_nvidia.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash scripts/torchrun_pretrain.sh config/ds_block_<size>.sh}
[ -f "$config" ] || { echo "config file $config not found" >&2; exit 2; }
gpus=$( (nvidia-smi -L 2>/dev/null || true) | wc -l)
NPROC_PER_NODE=${NPROC_PER_NODE:-$(( gpus > 0 ? gpus : 1 ))}
export MP_SIZE=${MP_SIZE:-1}
source "$config"
# shellcheck disable=SC2086
torchrun --nnodes "${NNODES:-1}" --nproc-per-node "$NPROC_PER_NODE" --node-rank "${NODE_RANK:-0}" \
  --master-addr "${MASTER_ADDR:-127.0.0.1}" --master-port "${MASTER_PORT:-$((10000 + RANDOM % 55536))}" \
  pretrain_glm.py $gpt_options ${EXTRA_ARGS:-}
