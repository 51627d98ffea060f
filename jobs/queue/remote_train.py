"""What runs inside a Hugging Face Job (``python launch.py remote-train``): train ``ADAPTA_SPEC``, push to ``ADAPTA_PUSH_REPO``.

The sending side (submit, status, cancel) is :mod:`jobs.queue.hf_jobs`, light enough for the web server; this one loads the
trainers (through :mod:`jobs.queue.run`), so only the remote container imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobs.errors import AdaptaError
from jobs.export.hub_push import push_run
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec_yaml


def run_remote_job(environ: dict[str, str] | None = None) -> int:
    """Inside the Hugging Face Job: train ``ADAPTA_SPEC`` and push the result to ``ADAPTA_PUSH_REPO``; the exit status."""
    environ = dict(os.environ if environ is None else environ)
    missing = [name for name in ("ADAPTA_SPEC", "ADAPTA_PUSH_REPO", "HF_TOKEN") if not environ.get(name)]
    if missing:
        raise AdaptaError(f"remote-train runs inside a Hugging Face Job and needs {', '.join(missing)} in its environment")
    spec = parse_spec_yaml(environ["ADAPTA_SPEC"], source="ADAPTA_SPEC")
    job_id, summary = train_in_foreground(spec, show_progress=False)
    run_dir = Path(summary["output_folder"]).parent
    url = push_run(run_dir, environ["ADAPTA_PUSH_REPO"], token=environ["HF_TOKEN"], private=environ.get("ADAPTA_PUSH_PRIVATE", "1") == "1")
    print(f"adapta: job {job_id} finished (final loss {summary.get('last_loss')}); pushed to {url}", flush=True)
    return 0
