"""Data side of GLM: tokenizers, corpora readers, the token store, blank infilling and samplers."""
