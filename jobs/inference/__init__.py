"""Inference for the Playground, loaded on first use (torch and transformers load only when a model is tried).

- :mod:`jobs.inference.text`: base model plus adapter, cached; generate (causal LM) or classify.
- :mod:`jobs.inference.images`: the base pipeline and the adapted one at the same seed.
- :mod:`jobs.inference.embedding_search`: semantic search with a sentence-embedding run, base and adapted side by side.
"""
