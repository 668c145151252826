# GLM-Large-Chinese (335M): Chinese SentencePiece vocabulary; token, sentence and document spans.
# Sourced by scripts/generate_block.sh (and the finetuning launchers): sets MODEL_TYPE and
# MODEL_ARGS. CHECKPOINT_PATH is the folder holding the downloaded checkpoint folders.
MODEL_TYPE="GLM-Large-Chinese"
MODEL_ARGS="--block-lm \
            --cloze-eval \
            --task-mask \
            --fix-command-token \
            --num-layers 24 \
            --hidden-size 1024 \
            --num-attention-heads 16 \
            --max-position-embeddings 1024 \
            --tokenizer-type ChineseSPTokenizer \
            --load-pretrained ${CHECKPOINT_PATH}/glm-large-chinese"
