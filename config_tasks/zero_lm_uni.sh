# Perplexity of a text file, one document per line, left to right.
# Sourced by scripts/evaluate_lm.sh after a config_tasks/model_*.sh descriptor.
EXPERIMENT_NAME=${MODEL_TYPE}-zero_lm_uni
TASK_NAME=language_model
DATA_PATH="${DATA_ROOT}/bert-large-test.txt"
EVALUATE_ARGS="--eval-batch-size 8 \
               --seq-length 512 \
               --overlapping-eval 256 \
               --unidirectional"
