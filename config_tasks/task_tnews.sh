# TNEWS (CLUE): Chinese news titles, 15 classes; use a Chinese model.
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-tnews
TASK_NAME=tnews
DATA_PATH="${DATA_ROOT}/TNews"
MAX_SEQ_LEN=256
LR_SINGLE=1e-5
EPOCH_SINGLE=10
XXLARGE_EPOCH=12
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 0"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
