# SQuAD question generation: {train,dev,test}.json in SQuAD format.
# Sourced by scripts/ds_finetune_seq2seq.sh / scripts/finetune_seq2seq.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-squad_generation
TASK_NAME=squad_generation
DATA_PATH="${DATA_ROOT}/squad_generation"

TRAIN_ARGS="--epochs 10 \
            --lr 2e-5 \
            --lr-decay-style linear \
            --warmup 0.06 \
            --weight-decay 1.0e-1 \
            --label-smoothing 0.1"

COMMON_ARGS="--save-interval 10000 \
             --log-interval 50 \
             --eval-interval 1000 \
             --eval-iters 100 \
             --eval-epoch 10"

TASK_ARGS="--src-seq-length 464 \
           --tgt-seq-length 48 \
           --min-tgt-length 0 \
           --length-penalty 0.7 \
           --no-repeat-ngram-size 0 \
           --num-beams 5 \
           --select-topk \
           --eval-batch-size 4"
