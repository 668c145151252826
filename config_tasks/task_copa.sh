# COPA: choice of plausible alternatives (multi-token cloze, mirrored training examples).
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-copa
TASK_NAME=COPA
DATA_PATH="${DATA_ROOT}/COPA"
MAX_SEQ_LEN=256
LR_SINGLE=1e-5
EPOCH_SINGLE=50
XXLARGE_EPOCH=100
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 0"

COMMON_ARGS="--save-interval 10000 \
             --log-interval 20 \
             --eval-interval 1000 \
             --eval-iters 100"
