"""The model layer: find a base model locally, check it is safe, load it, list what is installed, size a job.

- :mod:`jobs.models.source`: ``resolve_model`` (folder, .gguf file or cached Hub id → checked safetensors
  folder), ``check_model_safety``, ``model_architecture_supported``.
- :mod:`jobs.models.hub_cache`: ``hub_cache_dir``, ``cached_snapshot``: the local Hugging Face cache, read without the network.
- :mod:`jobs.models.loading`: ``load_tokenizer``, ``load_base_model``, ``resolve_precision``, ``count_parameters`` (torch and
  transformers load when one of them is called, so importing this package stays cheap).
- :mod:`jobs.models.catalog`: ``local_catalog`` and ``packaged_model`` for the model picker, tests and examples.
- :mod:`jobs.models.memory`: ``estimate_training_memory``, a documented estimate; :mod:`jobs.models.memory_job` its workload per
  task and objective and the Submit verdict; :mod:`jobs.models.memory_calibration` the measured table; :mod:`jobs.models.memory_budget`.

    from jobs.models import resolve_model, load_tokenizer, load_base_model
    resolved = resolve_model(packaged_model("smollm2"))  # converted once, then cached
"""

from jobs.models.catalog import CatalogEntry, local_catalog, packaged_model, task_hint
from jobs.models.hub_cache import hub_cache_dir
from jobs.models.loading import count_parameters, load_base_model, load_tokenizer, resolve_precision
from jobs.models.memory import MemoryEstimate, estimate_training_memory, format_bytes
from jobs.models.source import (
    ResolvedModel,
    check_model_safety,
    convert_gguf,
    model_architecture_supported,
    read_config,
    resolve_model,
)

__all__ = [
    "CatalogEntry",
    "MemoryEstimate",
    "ResolvedModel",
    "check_model_safety",
    "convert_gguf",
    "count_parameters",
    "estimate_training_memory",
    "format_bytes",
    "hub_cache_dir",
    "load_base_model",
    "load_tokenizer",
    "local_catalog",
    "model_architecture_supported",
    "packaged_model",
    "read_config",
    "resolve_model",
    "resolve_precision",
    "task_hint",
]
