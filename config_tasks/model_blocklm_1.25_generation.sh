# GLM-410M: token and document-level spans, BERT vocabulary.
# Sourced by scripts/generate_block.sh (and the finetuning launchers): sets MODEL_TYPE and
# MODEL_ARGS. CHECKPOINT_PATH is the folder holding the downloaded checkpoint folders.
MODEL_TYPE="GLM-410M"
MODEL_ARGS="--block-lm \
            --cloze-eval \
            --num-layers 30 \
            --hidden-size 1024 \
            --num-attention-heads 16 \
            --max-position-embeddings 512 \
            --tokenizer-model-type bert-large-uncased \
            --tokenizer-type BertWordPieceTokenizer \
            --load-pretrained ${CHECKPOINT_PATH}/glm-1.25-generation"
