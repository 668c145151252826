#!/usr/bin/env bash
# GLM-RoBERTa (335M): GLM-Large shape, RoBERTa BPE vocabulary and corpus; token spans.
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --task-mask \
  --bert-prob 1.0 \
  --experiment-name blocklm-roberta-large-blank \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 24 --hidden-size 1024 --num-attention-heads 16 \
  --seq-length 512 --max-position-embeddings 512 \
  --save ${SAVE_PATH:-checkpoints} \
  --save-interval 2500 \
  --train-iters 500000 \
  --resume-dataloader \
  --shuffle \
  --train-data wikibook cc-news openwebtext \
  --tokenizer-type GPT2BPETokenizer --tokenizer-model-type roberta \
  --split 949,50,1 \
  --lr-decay-style linear --lr-decay-iters 500000 --lr-decay-ratio 0.025 --warmup .06 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_blockta_large.json \
"
