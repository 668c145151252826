# SQuAD 2.0 answers generated (train-v2.0.json, dev-v2.0.json; test = dev); EM/F1.
# Sourced by scripts/ds_finetune_seq2seq.sh / scripts/finetune_seq2seq.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-squad
TASK_NAME=squad
DATA_PATH="${DATA_ROOT}/SQuAD"

TRAIN_ARGS="--epochs 10 \
            --lr 1e-5 \
            --lr-decay-style linear \
            --warmup 0.06 \
            --weight-decay 1.0e-1 \
            --label-smoothing 0.1 \
            --batch-size 12"

COMMON_ARGS="--save-interval 10000 \
             --log-interval 200 \
             --eval-interval 1000 \
             --eval-iters 100 \
             --eval-epoch 1"

TASK_ARGS="--src-seq-length 512 \
           --tgt-seq-length 64 \
           --min-tgt-length 0 \
           --length-penalty 0 \
           --no-repeat-ngram-size 0 \
           --num-beams 5 \
           --select-topk \
           --eval-batch-size 8 \
           --validation-metric F1"
