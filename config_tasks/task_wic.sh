# WiC: word in context.
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-wic
TASK_NAME=wic
DATA_PATH="${DATA_ROOT}/WiC"
MAX_SEQ_LEN=256
LR_SINGLE=1e-5
EPOCH_SINGLE=30
XXLARGE_EPOCH=40
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 1"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 10000000 \
             --eval-iters 100"
