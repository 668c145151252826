#!/usr/bin/env bash
# GLM-10B: 48 layers, hidden 4096, 64 heads; GPT-2 vocabulary; token + sentence + document spans; ZeRO-2.
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --task-mask \
  --bert-prob 0.5 --gap-sentence-prob 0.3 \
  --gpt-min-ratio 0.25 --block-mask-prob 0.1 --short-seq-prob 0.02 \
  --experiment-name blocklm-10b \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 48 --hidden-size 4096 --num-attention-heads 64 \
  --seq-length 512 --max-position-embeddings 1024 \
  --save ${SAVE_PATH:-checkpoints} \
  --train-iters 250000 \
  --resume-dataloader \
  --train-data pile cc-news \
  --tokenizer-type GPT2BPETokenizer \
  --split 949,50,1 \
  --lr-decay-style cosine --lr-decay-iters 175000 --lr-decay-ratio 0.1 --warmup .04 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_10B.json \
"
