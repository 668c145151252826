#!/usr/bin/env bash
# GLM-Base (110M): 12 layers, hidden 768, 12 heads; BERT uncased vocabulary; token spans.
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --bert-prob 1.0 \
  --experiment-name blocklm-base-blank \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 12 --hidden-size 768 --num-attention-heads 12 \
  --seq-length 512 --max-position-embeddings 512 \
  --save ${SAVE_PATH:-checkpoints} \
  --train-iters 150000 \
  --resume-dataloader \
  --train-data bert-base \
  --tokenizer-type BertWordPieceTokenizer --tokenizer-model-type bert-base-uncased \
  --split 949,50,1 \
  --lr-decay-style cosine --lr-decay-iters 120000 --lr-decay-ratio 0.05 --warmup .05 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_base.json \
"
