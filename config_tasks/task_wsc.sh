# WSC with negative candidates (data WSC-negative: records carry 'candidates').
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-wsc
TASK_NAME=wsc
DATA_PATH="${DATA_ROOT}/WSC-negative"
MAX_SEQ_LEN=128
LR_SINGLE=1e-5
EPOCH_SINGLE=50
XXLARGE_EPOCH=100
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 2 \
            --loss-func mix \
            --wsc-negative \
            --length-penalty 1"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
