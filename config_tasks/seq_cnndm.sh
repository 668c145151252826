# CNN/DailyMail on PTB-tokenised {train,val,test}.source/.target (see scripts/convert_cnndm_csv.py).
# Sourced by scripts/ds_finetune_seq2seq.sh / scripts/finetune_seq2seq.sh after a
# config_tasks/model_*.sh descriptor (which sets MODEL_TYPE and MODEL_ARGS).
EXPERIMENT_NAME=${MODEL_TYPE}-cnn_dm
TASK_NAME=cnn_dm
DATA_PATH="${DATA_ROOT}/cnn_dm"

TRAIN_ARGS="--epochs 15 \
            --lr 3e-5 \
            --lr-decay-style linear \
            --warmup 0.06 \
            --weight-decay 1.0e-1 \
            --label-smoothing 0.1"

COMMON_ARGS="--save-interval 10000 \
             --log-interval 50 \
             --eval-interval 1000 \
             --eval-iters 100 \
             --eval-epoch 1"

TASK_ARGS="--src-seq-length 608 \
           --tgt-seq-length 160 \
           --min-tgt-length 55 \
           --length-penalty 0.7 \
           --no-repeat-ngram-size 3 \
           --num-beams 5 \
           --select-topk \
           --eval-batch-size 4"
