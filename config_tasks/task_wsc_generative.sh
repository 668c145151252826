# WSC, generative regime: trained as an LM on the referent, predicted True when greedy decoding reproduces it.
# Sourced by scripts/ds_finetune_superglue.sh and scripts/finetune_superglue.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-wsc_generative
TASK_NAME=wsc
DATA_PATH="${DATA_ROOT}/WSC"
MAX_SEQ_LEN=128
LR_SINGLE=1e-5
EPOCH_SINGLE=50
XXLARGE_EPOCH=100
BATCH_SIZE=16
WEIGHT_DECAY=1.0e-1

TRAIN_ARGS="--lr-decay-style linear \
            --warmup 0.1"

COMMON_ARGS="--save-interval 10000 \
             --eval-interval 1000 \
             --eval-iters 100"
