"""GLM in EleutherAI's lm-evaluation-harness: the model class (``adapter.py``) and offline task
YAMLs over local files. ``lm_eval_glm.py`` at the repository root registers the class as
``glm`` and runs lm-eval's command line; docs/lm_eval.md has the conventions."""
