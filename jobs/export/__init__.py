"""What people take away from a finished job: files other programs load, and the Hub as a destination.

- GGUF for llama.cpp, Ollama and LM Studio: :mod:`jobs.export.gguf` (the whole export, as the UI, CLI, API and Hub push use
  it), :mod:`jobs.export.gguf_convert` (model folder → GGUF with the ``gguf`` library), :mod:`jobs.export.gguf_vocab`
  (tokenizer metadata), :mod:`jobs.export.gguf_families` (the families written, and whether a model exports at all),
  :mod:`jobs.export.gguf_verify` (run in llama.cpp, or load back, and compare), :mod:`jobs.export.gguf_llamacpp` (llama.cpp
  itself in a Node subprocess), :mod:`jobs.export.modelfile` (Ollama Modelfile, chat template in Go syntax).
- :mod:`jobs.export.merge`: a LoRA run merged into one complete model folder (transformers or sentence-transformers).
- :mod:`jobs.export.model_card` (the README.md next to every adapter), :mod:`jobs.export.hub_push` (push a run to the Hub),
  :mod:`jobs.export.space_deploy` (run this repository as a Space), :mod:`jobs.export.hub_client` (the Hub client, repo ids).

    from jobs.export import export_gguf
    result = export_gguf("data/runs/7", ["f16", "q8_0"])
"""

from jobs.export.gguf import GgufExport, GgufFile, export_gguf, job_gguf_support, offered_files, summary_rows
from jobs.export.gguf_convert import QUANT_TYPES, quant_type
from jobs.export.gguf_families import GgufSupport, gguf_support
from jobs.export.gguf_llamacpp import llamacpp_status

__all__ = ["QUANT_TYPES", "GgufExport", "GgufFile", "GgufSupport", "export_gguf", "gguf_support", "job_gguf_support", "llamacpp_status",
           "offered_files", "quant_type", "summary_rows"]
