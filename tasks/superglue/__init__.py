"""SuperGLUE, GLUE, CLUE and text-classification tasks: readers, PVPs, datasets, scoring and
metrics; ``tasks.superglue.finetune`` registers them."""
