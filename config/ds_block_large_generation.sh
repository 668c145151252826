#!/usr/bin/env bash
# GLM-Doc (335M): GLM-Large shape trained on token spans plus document-level generation.
# Sourced by scripts/ds_pretrain_nvidia.sh, scripts/torchrun_pretrain.sh and
# scripts/pretrain_cpu.sh: sets gpt_options. Paths come from the environment (SAVE_PATH,
# GLM_TOKENIZER_PATH, GLM_CORPUS_<NAME> for named corpora, LOAD_PATH where a run continues).
config_dir=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
gpt_options=" \
  --block-lm \
  --bert-prob 0.5 \
  --experiment-name blocklm-large-generation \
  --model-parallel-size ${MP_SIZE:-1} \
  --num-layers 24 --hidden-size 1024 --num-attention-heads 16 \
  --seq-length 512 --max-position-embeddings 512 \
  --save ${SAVE_PATH:-checkpoints} \
  --train-iters 200000 \
  --resume-dataloader \
  --train-data bert-large \
  --tokenizer-type BertWordPieceTokenizer --tokenizer-model-type bert-large-uncased \
  --split 949,50,1 \
  --lr-decay-style cosine --lr-decay-iters 160000 --lr-decay-ratio 0.05 --warmup .05 \
  --checkpoint-activations --deepspeed-activation-checkpointing --fp16 \
  --deepspeed --deepspeed_config ${config_dir}/config_block_generation.json \
"
