"""Zero-shot language modelling: LAMBADA, WikiText and generic LM perplexity (tasks registered
on import)."""

from tasks.language_model import task  # noqa: F401 - registers lambda, wikitext, language_model
