#!/usr/bin/env bash
# ROUGE-1/2/L F1 of generated summaries against references, one example per line:
#   bash scripts/evaluate_seq2seq.sh runs/<experiment>/test.jsonl.hyps runs/<experiment>/test.jsonl.refs
# Uses rouge-score with the Porter stemmer; it tokenises as ROUGE-1.5.5 does (lower case,
# alphanumeric runs), so neither Java (CoreNLP) nor files2rouge is needed. "[SEP]" splits a
# line into sentences for ROUGE-L (summary level). Add --glm-postprocess to drop short and
# near-duplicate predicted sentences as the in-training metric does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hyps=${1:?usage: bash scripts/evaluate_seq2seq.sh HYPS REFS [--glm-postprocess]}
refs=${2:?usage: bash scripts/evaluate_seq2seq.sh HYPS REFS [--glm-postprocess]}
shift 2
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" python -c 'import sys; from tasks.seq2seq.metrics import main; main(sys.argv[1:])' \
  "$hyps" "$refs" "$@"
