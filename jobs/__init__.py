"""Adapta's engine: the JobSpec, data inspection and loading, model resolution, trainers, inference.

Nothing in this package imports gradio; the web UI (``webui/``) and the command line (``launch.py``)
call into it. ``python -m jobs.queue.run SPEC.yaml`` runs one spec in the foreground.
"""

import logging

# bitsandbytes (QLoRA) logs a warning at import, and PEFT imports it whenever it is installed, on CPUs with AVX-512 BF16 that lack
# the optional `kernels` package (a bf16 4-bit matrix-vector kernel fetched from the Hugging Face Hub). Adapta's QLoRA computes
# in fp32 on the CPU and never uses that kernel, so the line would only be noise in every log.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
