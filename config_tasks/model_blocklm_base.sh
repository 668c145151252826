# GLM-Base (110M): BERT vocabulary, token blank infilling.
# Sourced by scripts/generate_block.sh (and the finetuning launchers): sets MODEL_TYPE and
# MODEL_ARGS. CHECKPOINT_PATH is the folder holding the downloaded checkpoint folders.
MODEL_TYPE="blank-base"
MODEL_ARGS="--block-lm \
            --num-layers 12 \
            --hidden-size 768 \
            --num-attention-heads 12 \
            --max-position-embeddings 512 \
            --tokenizer-model-type bert-base-uncased \
            --tokenizer-type BertWordPieceTokenizer \
            --load-pretrained ${CHECKPOINT_PATH}/glm-base-blank"
