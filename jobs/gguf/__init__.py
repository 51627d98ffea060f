"""GGUF export: a finished causal-LM job as files llama.cpp, Ollama and LM Studio load, written offline and verified.

    from jobs.gguf import export_gguf
    result = export_gguf("data/runs/7", ["f16", "q8_0"])

Modules: :mod:`jobs.gguf.convert` (model folder → GGUF with the ``gguf`` library), :mod:`jobs.gguf.vocab` (tokenizer
metadata), :mod:`jobs.gguf.modelfile` (Ollama Modelfile, chat template in Go syntax), :mod:`jobs.gguf.verify` (load back
through transformers and compare), :mod:`jobs.gguf.export` (the whole job, as the UI, CLI, API and Hub push use it).
"""

from jobs.gguf.convert import QUANT_TYPES, quant_type
from jobs.gguf.export import GgufExport, GgufFile, export_gguf, summary_rows

__all__ = ["QUANT_TYPES", "GgufExport", "GgufFile", "export_gguf", "quant_type", "summary_rows"]
