#!/usr/bin/env bash
# A tiny GLM (4 layers, hidden 256) that pretrains on a laptop CPU in minutes: the README's main
# job uses it. Token, sentence and document spans, a byte-level BPE vocabulary trained on your
# text (scripts/train_tokenizer.py). Environment: GLM_TRAIN_DATA (token store from
# scripts/preprocess_data.py), GLM_TOKENIZER_PATH (tokenizer folder), SAVE_PATH, TRAIN_ITERS.
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm --task-mask \
  --bert-prob 0.5 --gap-sentence-prob 0.3 --gpt-min-ratio 0.25 \
  --experiment-name blocklm-tiny \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 4 --hidden-size 256 --num-attention-heads 8 \
  --seq-length 128 --max-position-embeddings 256 \
  --hidden-dropout 0.0 --attention-dropout 0.0 \
  --tokenizer-type ByteBPETokenizer \
  --train-data ${GLM_TRAIN_DATA:-work_dirs/demo/store} \
  --split 98,2,0 \
  --num-workers 1 \
  --save ${SAVE_PATH:-checkpoints} \
  --train-iters ${TRAIN_ITERS:-300} \
  --lr-decay-style cosine --lr-decay-ratio 0.1 --warmup 0.03 \
  --log-interval 10 --eval-interval 100 --eval-iters 5 --save-interval 100 --keep-last-n 2 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_tiny_cpu.json \
"
