# LAMBADA last-word accuracy, left-to-right context (unidirectional).
# Sourced by scripts/evaluate_lm.sh after a config_tasks/model_*.sh descriptor.
EXPERIMENT_NAME=${MODEL_TYPE}-zero_lambada_uni
TASK_NAME=lambda
DATA_PATH="${DATA_ROOT}/lambada_test.jsonl"
EVALUATE_ARGS="--eval-batch-size 16 \
               --seq-length 512 \
               --unidirectional"
