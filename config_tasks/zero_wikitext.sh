# WikiText-103 perplexity (detokenised; adjusted ppl is per original word, the paper's number).
# Sourced by scripts/evaluate_lm.sh after a config_tasks/model_*.sh descriptor.
EXPERIMENT_NAME=${MODEL_TYPE}-zero_wikitext
TASK_NAME=wikitext
DATA_PATH="${DATA_ROOT}/wikitext-103/wiki.test.tokens"
EVALUATE_ARGS="--eval-batch-size 8 \
               --seq-length 1024 \
               --overlapping-eval 256"
