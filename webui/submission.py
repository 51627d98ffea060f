"""What a caller's job spec passes before it is queued, the same for the Train tab, the API's ``/submit_job`` and every child of
a sweep: the caller may train, the model is one they may use (a cached private or gated Hub model: their token may read it),
every local path is one of their own uploads, no file the data check found secrets in, and the job asks for no more GPUs or CPU processes than this server has.

The Train tab's pre-flight (memory estimate, download check, steps: :func:`webui.train_tab.preflight_report`) runs before these
in the tab and in :func:`webui.api.submit_action`.

    job_id = submit_spec(spec, caller, hub_token)
    spec = checked_for(caller, hub_token)(spec)      # AdaptaError naming what is wrong
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.data.doctor_notes import refuse_known_secrets
from jobs.queue import submit_job
from jobs.queue.resources import check_resources
from jobs.spec import JobSpec
from webui.access import Caller, require_writer
from webui.api_caller import home_paths
from webui.api_data import check_data_owned
from webui.api_models import check_model_allowed


def checked_for(caller: Caller, hub_token: str | None = None) -> Callable[[JobSpec], JobSpec]:
    """The checks a caller's spec passes before it is queued (writer, data-home paths, a model they may use with ``hub_token``,
    their own files, resources this server has)."""
    require_writer(caller, "train")

    def check(spec: JobSpec) -> JobSpec:
        spec = home_paths(spec)
        check_model_allowed(spec.base_model, caller, hub_token)
        check_data_owned(spec, caller)
        refuse_known_secrets(spec)  # a file the Data tab's check found secrets in: refused here, with the rows named
        check_resources(spec)
        return spec

    return check


def submit_spec(spec: JobSpec, caller: Caller, hub_token: str | None = None) -> int:
    """Queue ``spec`` as the caller's job (refused for anonymous and demo callers, and for another user's files).

    ``hub_token`` (the caller's, for a gated or private base model) stays in memory and reaches only this job's process."""
    return submit_job(checked_for(caller, hub_token)(spec), owner=caller.owner, hub_token=hub_token)
