# CMRC 2018: Chinese reading comprehension (a seq2seq task: see seq_cmrc.sh for its generation settings).
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-cmrc
TASK_NAME=cmrc
DATA_PATH="${DATA_ROOT}/CMRC"
MAX_SEQ_LEN=256
LR_SINGLE=1e-5
EPOCH_SINGLE=10
XXLARGE_EPOCH=12
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1 \
            --src-seq-length 464 \
            --tgt-seq-length 48 \
            --num-beams 5 \
            --length-penalty 0.7 \
            --validation-metric F1"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
