"""Whether a job asks for resources this machine's workers have: a job asking for more GPUs than any worker here sees, or
more CPU processes than there are cores, would wait in the queue forever, so it is refused at submission instead.

The same check runs for the web Submit, the API's ``/submit_job``, every child of a sweep and ``launch.py submit``.

    check_resources(spec)      # AdaptaError naming what to ask for instead
"""

from __future__ import annotations

import os

from jobs.errors import AdaptaError
from jobs.queue.worker import visible_gpu_count
from jobs.spec import JobSpec

MAX_JOB_GPUS_ENV = "ADAPTA_MAX_JOB_GPUS"
"""The most GPUs one job may ask for (default: the GPUs this machine sees); set it where workers on other hosts have more."""


def gpus_here() -> int:
    """The GPUs a job may ask for: ``ADAPTA_MAX_JOB_GPUS``, else the GPUs this machine's workers see."""
    configured = os.environ.get(MAX_JOB_GPUS_ENV, "").strip()
    return int(configured) if configured.isdigit() else visible_gpu_count()


def check_resources(spec: JobSpec) -> None:
    """Refuse a job that asks for more GPUs than any worker here has (one GPU always passes: it trains on the CPU when there is
    none) or more CPU processes than this machine has cores: it would wait in the queue forever."""
    resources = spec.resources
    gpus = gpus_here()
    if resources.gpus > max(gpus, 1):
        raise AdaptaError(f"resources.gpus is {resources.gpus} but this server has {gpus} GPU{'s' if gpus != 1 else ''}, so the job "
                          f"would never start; ask for at most {max(gpus, 1)} (the operator sets {MAX_JOB_GPUS_ENV} when workers "
                          "elsewhere have more)")
    cores = os.cpu_count() or 1
    if resources.gpus == 0 and resources.processes > cores:
        raise AdaptaError(f"resources.processes is {resources.processes} but this server has {cores} CPU cores, so the job would never "
                          f"start; ask for at most {cores}")
