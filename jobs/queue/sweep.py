"""Sweeps in the queue: a plan's children queued as one group, the group's actions (cancel, delete), and an Optuna
sweep's next trials.

An Optuna sweep queues ``parallel`` trials at a time and :func:`advance_sweeps` (called by every worker between jobs)
tells Optuna the finished ones' results and queues the next. The study lives in an SQLite file under
``<data home>/sweeps/<group>/`` next to ``sweep.json`` (what to queue), so a restart loses nothing.

Every child is a normal, fully validated :class:`~jobs.spec.JobSpec` (:mod:`jobs.queue.sweep_plan` reads the spec); the
children share ``Job.group_id`` and ``Job.group_name``, and :mod:`jobs.queue.sweep_ranking` marks the best.

    plan = read_sweep_yaml(text)              # jobs.queue.sweep_plan; None for a spec of one job
    job_ids = submit_sweep(plan, owner="local")
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from jobs.errors import AdaptaError
from jobs.queue.cancel import request_cancel
from jobs.queue.local_files import prepare_for_queue
from jobs.queue.submit import SINGLE_USER_OWNER, InvalidTransition, QueueShareExceeded, check_queue_share, delete_job, get_job, submit_job
from jobs.queue.sweep_plan import SweepPlan, SweepSpec, child_spec, sweepable_fields
from jobs.queue.sweep_ranking import SWEEP_FILE, job_score, sweep_record, sweeps_root
from jobs.spec import JobSpec
from jobs.spec.limits import shown
from storage.db import session_scope
from storage.paths import safe_name
from storage.tables import Job, JobStatus

STUDY_FILE = "study.db"
STOPPED_FILE = "stopped"
LOCK_FILE = "lock"
LOG = logging.getLogger("adapta")
MAX_SWEEP_CHILDREN_PER_OWNER = 64
"""How many sweep jobs (of all their sweeps) one user may have queued or running at once; a sweep past it is refused whole."""


# ---- queueing -----------------------------------------------------------------------------------------------

Check = Callable[[JobSpec], JobSpec]
_tokens: dict[str, str] = {}  # group id -> the submitter's Hub token, for trials queued later by this process (memory only)


def check_sweep_share(owner: str, adding: int) -> None:
    """Refuse, in one sentence and before any is queued, ``adding`` sweep children that would give ``owner`` more than
    :data:`MAX_SWEEP_CHILDREN_PER_OWNER` unfinished ones or more queued jobs than one user may have (no share applies to the
    single user of a single-user server)."""
    if owner == SINGLE_USER_OWNER:
        return
    with session_scope() as session:
        unfinished = int(session.exec(select(func.count()).select_from(Job).where(
            Job.owner == owner, col(Job.group_id).is_not(None), col(Job.status).in_((JobStatus.QUEUED, JobStatus.RUNNING)))).one())
        if unfinished + adding > MAX_SWEEP_CHILDREN_PER_OWNER:
            raise QueueShareExceeded(f"you have {unfinished} sweep jobs queued or running and one user may have at most "
                                     f"{MAX_SWEEP_CHILDREN_PER_OWNER}; this sweep adds {adding}: wait for some to finish, cancel a sweep, or "
                                     "sweep fewer values")
        check_queue_share(session, owner, adding)


def _queue_children(specs: Iterable[JobSpec], group_id: str, group_name: str, owner: str, priority: int, hub_token: str | None) -> list[int]:
    specs = list(specs)
    check_sweep_share(owner, len(specs))
    ids = [submit_job(spec, owner=owner, priority=priority, hub_token=hub_token) for spec in specs]
    with session_scope() as session:
        session.exec(update(Job).where(col(Job.id).in_(ids)).values(group_id=group_id, group_name=group_name))
    return ids


def submit_sweep(plan: SweepPlan, *, owner: str = "local", priority: int = 0, hub_token: str | None = None, check: Check | None = None) -> list[int]:
    """Queue a sweep's children as one group (an Optuna sweep: its first ``parallel`` trials); returns their job ids.

    ``check`` (the web API's access checks) runs on every child's spec before anything is queued."""
    check = check or (lambda spec: spec)
    group_id = f"sweep-{uuid.uuid4().hex[:10]}"
    if plan.optuna is None:
        checked = [check(spec) for _, spec in plan.children]
        return _queue_children(checked, group_id, plan.name, owner, priority, hub_token)
    from filelock import FileLock

    probe = prepare_for_queue(check(plan.children[0][1])).model_dump(mode="json")
    record = {"group_id": group_id, "group_name": plan.name, "owner": owner, "priority": priority, "base": probe,
              "sweep": plan.optuna.model_dump(mode="json")}
    folder = sweeps_root() / group_id
    folder.mkdir(parents=True)
    if hub_token:
        _tokens[group_id] = hub_token
    with FileLock(str(folder / LOCK_FILE)):  # a worker's advance_sweeps waits its turn (it skips a locked sweep)
        (folder / SWEEP_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        return _advance_optuna(folder)


# ---- the group's actions (scoped by owner) ------------------------------------------------------------------

def group_children(group_id: str, owner: str | None = None) -> list[Job]:
    """The jobs of one group, oldest first (only ``owner``'s when given)."""
    query = select(Job).where(Job.group_id == group_id).order_by(col(Job.id).asc())
    if owner is not None:
        query = query.where(Job.owner == owner)
    with session_scope() as session:
        return list(session.exec(query).all())


def group_of(job_id: int, owner: str | None = None) -> str:
    """The group id of one of ``owner``'s jobs; a job of its own is refused in one sentence."""
    job = get_job(job_id, owner)
    if not job.group_id:
        raise AdaptaError(f"job {job_id} is not part of a sweep; use cancel or delete for a job of its own")
    return job.group_id


def _stop_sweep(group_id: str) -> None:
    folder = sweeps_root() / safe_name(group_id)
    if folder.is_dir():
        (folder / STOPPED_FILE).touch()


def cancel_group(group_id: str, owner: str | None = None) -> list[int]:
    """Cancel every queued or running child of the group (an Optuna sweep queues no more); returns the cancelled ids."""
    children = group_children(group_id, owner)
    if not children:
        raise AdaptaError(f"there is no sweep {shown(group_id)}; list jobs with `launch.py jobs`")
    _stop_sweep(group_id)
    cancelled = []
    for job in children:
        if not job.status.finished:
            try:
                request_cancel(int(job.id), owner)
            except InvalidTransition:  # it finished in the meantime
                continue
            cancelled.append(int(job.id))
    return cancelled


def delete_group(group_id: str, owner: str | None = None) -> list[int]:
    """Delete every child of the group with its runs (refused, deleting nothing, while a child runs); returns the ids."""
    children = group_children(group_id, owner)
    if not children:
        raise AdaptaError(f"there is no sweep {shown(group_id)}; list jobs with `launch.py jobs`")
    running = [str(job.id) for job in children if job.status is JobStatus.RUNNING]
    if running:
        raise InvalidTransition(f"jobs {', '.join(running)} of this sweep are running; cancel the group first, then delete it")
    _stop_sweep(group_id)
    for job in children:
        delete_job(int(job.id), owner)
    if not group_children(group_id):  # every child is gone: so is the study
        shutil.rmtree(sweeps_root() / safe_name(group_id), ignore_errors=True)
    return [int(job.id) for job in children]


# ---- Optuna: the next trials, when earlier ones finish --------------------------------------------------------

def _distributions(search: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kinds = sweepable_fields()
    distributions = {}
    for path, choice in search.items():
        if isinstance(choice, list):
            distributions[path] = CategoricalDistribution(choice)
        elif kinds[path] == "int":
            distributions[path] = IntDistribution(int(choice["low"]), int(choice["high"]), log=choice["log"], step=int(choice["step"] or 1))
        else:
            distributions[path] = FloatDistribution(choice["low"], choice["high"], log=choice["log"], step=choice["step"])
    return distributions


def _objective(job: Job, metric: str) -> float | None:
    """What Optuna minimises for a finished child (a higher-is-better metric negated); None for a failed one."""
    score = job_score(job, metric)
    if score is None:
        return None
    return -score.value if score.higher_is_better else score.value


def _advance_optuna(folder: Path) -> list[int]:
    """Tell the study the finished trials' results and queue trials until ``parallel`` run or ``trials`` exist; the new job ids."""
    import optuna
    from optuna.trial import TrialState

    record = sweep_record(folder)
    if record is None or (folder / STOPPED_FILE).exists():
        return []
    settings = SweepSpec.model_validate(record["sweep"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / STUDY_FILE}"
    study = optuna.create_study(study_name=record["group_id"], storage=storage, direction="minimize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=settings.seed + len(group_children(record["group_id"]))))
    jobs = {int(job.id): job for job in group_children(record["group_id"])}
    queued: list[int] = []

    def queue(trial: optuna.trial.Trial) -> None:
        spec = child_spec(record["base"], trial.params, record["group_name"])
        job_id = _queue_children([spec], record["group_id"], record["group_name"], record["owner"], record["priority"],
                                 _tokens.get(record["group_id"]))[0]
        trial.set_user_attr("job_id", job_id)
        queued.append(job_id)

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job = jobs.get(trial.user_attrs.get("job_id", -1))
        if "job_id" not in trial.user_attrs:  # asked, then the process stopped before its job was queued
            queue(optuna.trial.Trial(study, trial._trial_id))
        elif job is None:  # its job was deleted
            study.tell(trial.number, state=TrialState.FAIL)
        elif job.status.finished:
            value = _objective(job, settings.metric)
            study.tell(trial.number, value) if value is not None else study.tell(trial.number, state=TrialState.FAIL)
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    distributions = _distributions(record["sweep"]["search"])
    while len(study.trials) < settings.trials and running < settings.parallel:
        queue(study.ask(distributions))
        running += 1
    if len(study.trials) >= settings.trials and running == 0:
        (folder / STOPPED_FILE).touch()
    return queued


_seen: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}


def advance_sweeps() -> list[int]:
    """Move every unfinished Optuna sweep on (tell finished trials, queue the next); the worker calls this between jobs.

    Cheap when nothing changed: a sweep's study is opened only when its children's statuses differ from the last look,
    and only by one process at a time (a file lock). Returns the ids of the jobs it queued."""
    from filelock import FileLock, Timeout

    root = sweeps_root()
    if not root.is_dir():
        return []
    queued: list[int] = []
    for folder in sorted(root.iterdir()):
        if not (folder / SWEEP_FILE).is_file() or (folder / STOPPED_FILE).exists():
            continue
        key = (str(root), folder.name)
        signature = tuple((int(job.id), job.status.value) for job in group_children(folder.name))
        if _seen.get(key) == signature:
            continue
        try:
            with FileLock(str(folder / LOCK_FILE), timeout=0):
                queued += _advance_optuna(folder)
        except Timeout:
            continue
        except Exception:  # noqa: BLE001 - one broken sweep (a bad study file) must never stop the worker from claiming jobs
            LOG.exception("could not advance sweep %s; it is retried when one of its jobs changes", folder.name)
        _seen[key] = tuple((int(job.id), job.status.value) for job in group_children(folder.name))
    return queued
