# GLM-RoBERTa 1.25 (unreleased): RoBERTa vocabulary with task masks.
# Sourced by scripts/generate_block.sh (and the finetuning launchers): sets MODEL_TYPE and
# MODEL_ARGS. CHECKPOINT_PATH is the folder holding the downloaded checkpoint folders.
MODEL_TYPE="blocklm-roberta-1.25"
MODEL_ARGS="--block-lm \
            --cloze-eval \
            --task-mask \
            --num-layers 24 \
            --hidden-size 1152 \
            --num-attention-heads 18 \
            --max-position-embeddings 1024 \
            --tokenizer-model-type roberta \
            --tokenizer-type GPT2BPETokenizer \
            --load-pretrained ${CHECKPOINT_PATH}/blocklm-roberta-1.25"
