# GLM-2B: GPT-2 vocabulary, token + sentence + document spans.
# Sourced by scripts/generate_block.sh (and the finetuning launchers): sets MODEL_TYPE and
# MODEL_ARGS. CHECKPOINT_PATH is the folder holding the downloaded checkpoint folders.
MODEL_TYPE="GLM-2B"
MODEL_ARGS="--block-lm \
            --cloze-eval \
            --task-mask \
            --num-layers 36 \
            --hidden-size 2048 \
            --num-attention-heads 32 \
            --max-position-embeddings 1024 \
            --tokenizer-type GPT2BPETokenizer \
            --tokenizer-model-type gpt2 \
            --load-pretrained ${CHECKPOINT_PATH}/glm-2b"
