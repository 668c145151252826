#!/usr/bin/env bash
# GLM-Large-Chinese (335M): Chinese SentencePiece vocabulary (fixed command ids); token + sentence + document spans.
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --task-mask \
  --bert-prob 0.4 --gap-sentence-prob 0.3 \
  --gpt-min-ratio 0.25 --block-mask-prob 0.1 --short-seq-prob 0.02 \
  --experiment-name blocklm-large-chinese \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 24 --hidden-size 1024 --num-attention-heads 16 \
  --seq-length 512 --max-position-embeddings 1024 \
  --save ${SAVE_PATH:-checkpoints} \
  --log-interval 50 --eval-interval 1000 --save-interval 2000 \
  --train-iters 250000 \
  --resume-dataloader \
  --train-data wudao baike zhihu \
  --tokenizer-type ChineseSPTokenizer --fix-command-token \
  --split 949,50,1 \
  --lr-decay-style cosine --lr-decay-iters 200000 --lr-decay-ratio 0.1 --warmup .04 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_large_chinese.json \
"
