"""Adapta's engine: the JobSpec, data inspection and loading, model resolution, trainers, inference.

Nothing in this package imports gradio; the web UI (``webui/``) and the command line (``launch.py``)
call into it. ``python -m jobs.queue.run SPEC.yaml`` runs one spec in the foreground.
"""
