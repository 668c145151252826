# CB: CommitmentBank (metrics accuracy and macro F1).
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-cb
TASK_NAME=cb
DATA_PATH="${DATA_ROOT}/CB"
MAX_SEQ_LEN=256
LR_SINGLE=1e-5
EPOCH_SINGLE=50
XXLARGE_EPOCH=100
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --pattern-id 3"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
