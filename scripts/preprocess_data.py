"""Tokenize corpora into a GLM token store (see data_utils/preprocess.py).

Example:
    NLTK_DATA=../shared/nltk_data python scripts/preprocess_data.py \
        --input ../shared/corpora/moby_dick.txt --output data/moby.store \
        --tokenizer-type GPT2BPETokenizer --tokenizer-path ../shared/vocab --workers 2
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_utils.preprocess import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
