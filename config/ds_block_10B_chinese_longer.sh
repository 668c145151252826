#!/usr/bin/env bash
# GLM-10B-Chinese, continued at 1024 tokens from the 512-token run in LOAD_PATH (schedule restarted).
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --task-mask \
  --bert-prob 0.5 --gap-sentence-prob 0.3 \
  --gpt-min-ratio 0.25 --block-mask-prob 0.1 --short-seq-prob 0.5 \
  --experiment-name blocklm-10b-chinese-longer \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 48 --hidden-size 4096 --num-attention-heads 64 \
  --seq-length 1024 --max-position-embeddings 1024 \
  --save ${SAVE_PATH:-checkpoints} \
  --load ${LOAD_PATH:-${SAVE_PATH:-checkpoints}/blocklm-10b-chinese} \
  --no-load-lr-scheduler \
  --train-iters 150000 \
  --resume-dataloader \
  --train-data wudao baike zhihu \
  --tokenizer-type ChineseSPTokenizer \
  --split 949,50,1 \
  --lr-decay-style cosine --lr-decay-iters 20000 --lr-decay-ratio 0.1 --warmup .025 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_10B_longer.json \
"
