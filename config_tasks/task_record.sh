# ReCoRD: cloze over passage entities; metrics EM and F1.
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-record
TASK_NAME=ReCoRD
DATA_PATH="${DATA_ROOT}/ReCoRD"
MAX_SEQ_LEN=512
LR_SINGLE=1e-5
EPOCH_SINGLE=5
XXLARGE_EPOCH=3
BATCH_SIZE=64
WEIGHT_DECAY=1.0e-1
DS_CONFIG=config_tasks/config_blocklm_10B_record.json

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 0"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
