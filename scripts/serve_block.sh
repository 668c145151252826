#!/usr/bin/env bash
# Serve blank filling over HTTP with a pretrained GLM (playground at /, API docs at /docs):
#   CHECKPOINT_PATH=/data/checkpoints bash scripts/serve_block.sh config_tasks/model_blocklm_10B.sh
#   ... serve_block.sh config_tasks/model_blocklm_10B.sh --host 0.0.0.0 --port 8080 --max-batch-size 32
# Flags after the model descriptor go to serve_glm.py (they override the defaults below); the
# generation flags are every request's defaults. Environment: CHECKPOINT_PATH (folder holding
# the checkpoint folders the descriptor names), GLM_TOKENIZER_PATH (vocab folder), MPSIZE
# (model-parallel size the checkpoint was saved with, 1), MAXSEQLEN (--seq-length, 512),
# OUT_SEQ_LENGTH (most tokens per blank, 256), TEMP (0.9), TOPK (40), TOPP (0), PORT (8000),
# MASTER_PORT (random). MPSIZE > 1 runs one process per shard with torchrun; rank 0 serves.
set -euo pipefail
cd "$(dirname "$0")/.."
model_config=${1:?usage: bash scripts/serve_block.sh config_tasks/model_<name>.sh [flags]}
shift
[ -f "$model_config" ] || { echo "model descriptor $model_config not found" >&2; exit 2; }
: "${CHECKPOINT_PATH:?set CHECKPOINT_PATH to the folder holding the downloaded checkpoints}"
MPSIZE=${MPSIZE:-1}
source "$model_config"
precision=()
if nvidia-smi -L >/dev/null 2>&1; then
  precision=(--fp16)
fi
# shellcheck disable=SC2206
args=(
  --model-parallel-size "$MPSIZE" $MODEL_ARGS "${precision[@]}"
  --seq-length "${MAXSEQLEN:-512}" --out-seq-length "${OUT_SEQ_LENGTH:-256}"
  --temperature "${TEMP:-0.9}" --top-k "${TOPK:-40}" --top-p "${TOPP:-0}"
  --port "${PORT:-8000}"
  "$@"
)
if [ "$MPSIZE" -gt 1 ]; then  # torchrun, through the python that has torch
  exec python -m torch.distributed.run --nproc-per-node "$MPSIZE" \
    --master-port "${MASTER_PORT:-$((10000 + RANDOM % 55536))}" serve_glm.py "${args[@]}"
fi
exec python serve_glm.py "${args[@]}"
