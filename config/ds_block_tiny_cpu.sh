#!/usr/bin/env bash
# A tiny GLM (2 layers, hidden 128) that pretrains on a laptop CPU in minutes: the README's main
# job uses it (its recipe, measured against larger shapes for the same minutes: docs/demo.md).
# Token, sentence and document spans, a byte-level BPE vocabulary trained on your text
# (scripts/train_tokenizer.py), rotary 2-D positions (with GLM's learned position tables a model
# this small never learns in minutes which words neighbour a blank: docs/demo.md). Environment:
# GLM_TRAIN_DATA (token store from scripts/preprocess_data.py), GLM_TOKENIZER_PATH (tokenizer
# folder), SAVE_PATH, TRAIN_ITERS.
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm --task-mask \
  --bert-prob 0.5 --gap-sentence-prob 0.2 --gpt-min-ratio 0.25 \
  --experiment-name blocklm-tiny \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 2 --hidden-size 128 --num-attention-heads 4 --position-encoding rotary \
  --seq-length 128 --max-position-embeddings 256 \
  --hidden-dropout 0.0 --attention-dropout 0.0 \
  --tokenizer-type ByteBPETokenizer \
  --train-data ${GLM_TRAIN_DATA:-work_dirs/demo/store} \
  --split 95,5,0 \
  --num-workers 1 \
  --save ${SAVE_PATH:-checkpoints} \
  --train-iters ${TRAIN_ITERS:-5000} \
  --lr-decay-style cosine --lr-decay-ratio 0.1 --warmup 0.03 \
  --log-interval 50 --eval-interval 1000 --eval-iters 50 --save-interval 1000 --keep-last-n 2 \
  --deepspeed_config ${config_dir}/config_block_tiny_cpu.json \
"
